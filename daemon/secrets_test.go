package daemon_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/llm/llmtest"
	"github.com/triagem/triagem/mailtest"
)

// Passwords, the NIF hash key, the approval keys and the LLM's API key never appear in the
// logs (at debug level), in the database, or in anything sent, even when logins fail.
func TestSecretsNeverLeak(t *testing.T) {
	secrets := map[string]string{
		"TRIAGEM_TEST_IMAP_PW":  "imap-pw-Zq7xW2vK9e",
		"TRIAGEM_TEST_WRONG_PW": "wrong-pw-Hh3Jr8Lm1t",
		"TRIAGEM_TEST_HASHKEY":  "hashkey-Pp5Ty6Uu0o",
		"TRIAGEM_TEST_APPROVAL": "k9:approval-Rr4Ee3Ww2q-0123456789",
		"TRIAGEM_TEST_LLM_KEY":  "sk-llm-Aa1Ss2Dd3f",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	im, sm := mailtest.StartServers(t, nil, "suporte@example.test", secrets["TRIAGEM_TEST_IMAP_PW"])
	files, _ := filepath.Glob("../demo/mails/*.eml")
	sort.Strings(files)
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		im.Append("suporte@example.test", "INBOX", raw)
	}
	srv := llmtest.Start(t, func(llmtest.Request) llmtest.Reply {
		return llmtest.Reply{Content: `{"category":"refund","confidence":0.9}`}
	})
	dir := t.TempDir()
	cfg, err := demo.Config(dir, im.Addr, sm.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Inboxes[0].Credentials = config.Credentials{PasswordEnv: "TRIAGEM_TEST_IMAP_PW"}
	bad := cfg.Inboxes[0]
	bad.Name, bad.Credentials = "wrong", config.Credentials{PasswordEnv: "TRIAGEM_TEST_WRONG_PW"}
	cfg.Privacy.KeyEnv = "TRIAGEM_TEST_HASHKEY"
	cfg.Approval.KeysEnv = "TRIAGEM_TEST_APPROVAL"
	cfg.LLM = config.LLM{Mode: "always", BaseURL: srv.URL, Model: "m", APIKeyEnv: "TRIAGEM_TEST_LLM_KEY",
		Timeout: config.Duration{Duration: time.Second}, MinConfidence: 0.7, MaxChars: 2000}
	var logs bytes.Buffer
	app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A login that fails, reported as the operator would see it.
	app.Cfg.Inboxes = append(app.Cfg.Inboxes, bad)
	_, loginErr := app.RunOnce(context.Background())
	if loginErr == nil {
		t.Fatal("a wrong password logged in")
	}
	app.Log.Error("run failed", "error", loginErr)
	if len(srv.Requests()) == 0 {
		t.Fatal("the LLM was never asked: its key was not exercised")
	}

	places := map[string][]byte{"logs": logs.Bytes(), "error": []byte(loginErr.Error())}
	for _, f := range []string{"triagem.db", "triagem.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			places[f] = b
		}
	}
	for _, d := range sm.Deliveries() {
		places["sent mail"] = append(places["sent mail"], d.Data...)
	}
	for where, b := range places {
		for name, s := range secrets {
			if _, after, ok := strings.Cut(s, ":"); ok {
				s = after // a key's id is public (tokens carry it); its secret is not
			}
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret of %s", where, name)
			}
		}
	}
}
