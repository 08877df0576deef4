package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/route"
)

// TestExternalCorpus runs every file of the shared MIME corpus (other projects' test mail:
// broken, exotic, huge) through the real decision code. Each must end in a decision or in
// quarantine with a reason: never a panic, a hang, or an empty answer.
func TestExternalCorpus(t *testing.T) {
	root := "../../shared/corpus/mime-external"
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the shared corpus is missing at %s: CI must have it", root)
		}
		t.Skipf("shared corpus not found at %s", root)
	}
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := daemon.NewEvaluator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 100 {
		t.Fatalf("only %d corpus files", len(files))
	}
	counts := map[string]int{}
	var peak uint64
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan route.Decision, 1)
		go func() {
			d, _ := ev.Evaluate(context.Background(), raw)
			done <- d
		}()
		var d route.Decision
		select {
		case d = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no decision within 20 s", f)
		}
		switch d.Action {
		case route.Forward, route.Review, route.Ignore:
		case route.Quarantine:
			if len(d.Reasons) == 0 || d.Reasons[0].String() == "" {
				t.Errorf("%s: quarantined without a reason", f)
			}
		default:
			t.Errorf("%s: action %q", f, d.Action)
		}
		if d.Action == route.Forward && len(d.To) == 0 {
			t.Errorf("%s: forward without a recipient", f)
		}
		counts[d.Action]++
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	t.Logf("%d files: %v; peak heap in use %d MiB", len(files), counts, peak>>20)
}
