package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The JSON contract of `triagem classify --json`, over the demo mail and the shared corpus.
func TestClassifyJSONContract(t *testing.T) {
	files, _ := filepath.Glob("../../demo/mails/*.eml")
	filepath.WalkDir("../../../shared/corpus/mime-external", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"classify", "--json"}, files...), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(files) {
		t.Fatalf("%d lines for %d files", len(lines), len(files))
	}
	keys := []string{"file", "category", "confidence", "action", "to", "cc", "nif", "name", "identified", "disclaimer", "reasons"}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %q", m["file"], k)
			}
		}
		switch m["action"] {
		case "forward", "review", "ignore", "quarantine":
		default:
			t.Errorf("%s: action %v", m["file"], m["action"])
		}
		if m["action"] == "quarantine" && len(m["reasons"].([]any)) == 0 {
			t.Errorf("%s: quarantined without a reason", m["file"])
		}
	}
	if !strings.Contains(out.String(), `"file":"../../demo/mails/03-apolice-valor.eml","category":"insurance"`) ||
		!strings.Contains(out.String(), `"disclaimer":true`) {
		t.Errorf("the insurance sample lost its category or disclaimer")
	}
}

func TestCheckConfigReportsErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.toml")
	os.WriteFile(p, []byte("[daemon]\nstate_dir = \"\"\n[smtp]\nport = 0\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", p}, &out, &errb); code != 1 {
		t.Fatalf("exit %d for a broken config", code)
	}
	if !strings.Contains(errb.String(), "bad.toml:2:") || !strings.Contains(errb.String(), "bad.toml:4:") {
		t.Errorf("errors without file:line:\n%s", errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"check-config", "--config", "../../config.toml"}, &out, &errb); code != 0 {
		t.Errorf("the shipped config.toml fails check-config: %s", errb.String())
	}
}

func TestDemoShowsRoutedCases(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--state", t.TempDir()}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"forward→telemedicina@example.test", "forward→rute.joao.externo@example.test,clinicadigital@example.test", "forward→areaclinica@example.test", "ignore", "Triagem/Revisao", "triagem.db"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
