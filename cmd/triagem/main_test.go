package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem/spool"
	"github.com/triagem/triagem/store"
	"github.com/triagem/triagem/templates"
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
	if strings.Contains(out.String(), "note:") {
		t.Errorf("the shipped config.toml leaves reasons untranslated:\n%s", out.String())
	}
	// A team language whose reasons.LANG.tmpl is missing is told so; its reasons stay English.
	tdir := filepath.Join(dir, "texts")
	os.Mkdir(tdir, 0o700)
	for _, p := range templates.Purposes {
		src, err := os.ReadFile(filepath.Join("../../templates", p+".pt-PT.tmpl"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(tdir, p+".xx.tmpl"), src, 0o600)
	}
	shipped, _ := os.ReadFile("../../config.toml")
	cfgSrc := strings.Replace(strings.Replace(string(shipped), `language = "pt-PT"`, `language = "xx"`, 1), `templates_dir = ""`, `templates_dir = "texts"`, 1)
	os.WriteFile(filepath.Join(dir, "xx.toml"), []byte(cfgSrc), 0o600)
	out.Reset()
	if code := run(context.Background(), []string{"check-config", "--config", filepath.Join(dir, "xx.toml")}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "note: reasons.xx.tmpl has no text for below-threshold") {
		t.Errorf("no note on the untranslated reasons:\n%s", out.String())
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

func TestEvalReportsTheFigures(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"eval", "--config", "../../config.toml", "../../dataset/eval/hard"}, &out, &errb); code != 0 {
		t.Fatalf("eval exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"accuracy", "auto-routed", "precision", "sensitive leaks  0 (clinical)", "NIF exact match", "confusion", "documents"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out.String())
		}
	}
	if code := run(context.Background(), []string{"eval", t.TempDir()}, &out, &errb); code == 0 {
		t.Error("eval of a folder without labels.jsonl succeeded")
	}
}

func TestTrainWritesALoadableModel(t *testing.T) {
	if testing.Short() {
		t.Skip("training takes seconds; run without -short")
	}
	p := filepath.Join(t.TempDir(), "m.json")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"train", "--config", "../../config.toml", "--examples", "../../dataset/train", "--out", p}, &out, &errb); code != 0 {
		t.Fatalf("train exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "cross-validated accuracy") {
		t.Errorf("train output: %s", out.String())
	}
	// The written model is usable as classify.model.
	if code := run(context.Background(), []string{"eval", "--quiet", "--config", "../../config.toml", "--model", p, "../../dataset/eval/hard"}, &out, &errb); code != 0 {
		t.Fatalf("eval with the trained model: exit %d: %s", code, errb.String())
	}
}

// A changed rule shows up as a diff, and --max-changes makes it a CI gate.
func TestReplayDiffAndGate(t *testing.T) {
	src, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	// The candidate sends insurance questions to the tech department's rules: every
	// insurance mail that was forwarded as insurance changes.
	cand := strings.Replace(string(src), `name = "insurance"`, `name = "insurance"
threshold = 0.999`, 1)
	p := filepath.Join(t.TempDir(), "new.toml")
	os.WriteFile(p, []byte(cand), 0o600)

	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"replay", "--base", "../../config.toml", "--config", p, "../../dataset/eval/typical"}, &out, &errb)
	if code != 0 {
		t.Fatalf("replay without a gate: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "now:       forward insurance (medico.online@medis.pt)") || !strings.Contains(out.String(), "candidate: review insurance") {
		t.Fatalf("replay shows no insurance change:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"replay", "--base", "../../config.toml", "--config", p, "--max-changes", "0", "../../dataset/eval/typical"}, &out, &errb); code != 1 {
		t.Errorf("the gate let changes through: exit %d", code)
	}
	if !strings.Contains(errb.String(), "more than --max-changes 0") {
		t.Errorf("gate message: %s", errb.String())
	}
	// A changed rule: "recibo" alone now means a refund request, with a heavy weight.
	ruled := strings.Replace(string(src), `name = "refund"
label = "Pedidos de reembolso: consultas faturadas/cobradas indevidamente"
to = ["medico.online@medis.pt"]
`, `name = "refund"
label = "Pedidos de reembolso: consultas faturadas/cobradas indevidamente"
to = ["medico.online@medis.pt"]

  [[category.rule]]
  name = "receipt-means-refund"
  weight = 9.0
  any = ["recibo"]
`, 1)
	if ruled == string(src) {
		t.Fatal("the refund category was not found in config.toml")
	}
	os.WriteFile(p, []byte(ruled), 0o600)
	out.Reset()
	if code := run(context.Background(), []string{"replay", "--base", "../../config.toml", "--config", p, "--max-changes", "0", "../../dataset/eval/typical"}, &out, &errb); code != 1 {
		t.Errorf("a changed rule passed the gate: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "now:       forward invoice") || !strings.Contains(out.String(), "refund") {
		t.Errorf("the changed rule shows no invoice → refund change:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"replay", "--base", "../../config.toml", "--config", "../../config.toml", "--max-changes", "0", "../../dataset/eval/typical"}, &out, &errb); code != 0 {
		t.Errorf("the same config twice: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "0 routes would change") {
		t.Errorf("the same config twice: %s", out.String())
	}
}

// --days replays what the daemon stored: here, the demo's state directory.
func TestReplayFromTheStore(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--state", state}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d: %s", code, errb.String())
	}
	base := filepath.Join(state, "config.toml")
	src, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "new.toml")
	os.WriteFile(p, []byte(strings.Replace(string(src), `model = "embedded"`, `model = "none"`, 1)), 0o600)
	out.Reset()
	if code := run(context.Background(), []string{"replay", "--base", base, "--config", p, "--days", "1"}, &out, &errb); code != 0 {
		t.Fatalf("replay --days: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "replayed 21 mails") { // 20 samples and the agent's approval
		t.Errorf("replay --days did not read the 21 stored mails:\n%s", out.String())
	}
}

// Purging the spool keeps the log whole: the chain verifies, the purge is an event, and
// the case's story says the text is gone.
func TestPurgeThenVerify(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--state", state}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d: %s", code, errb.String())
	}
	cfgPath := filepath.Join(state, "config.toml")
	out.Reset()
	if code := run(context.Background(), []string{"purge", "--config", cfgPath, "--dry-run"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "would remove the raw copies of 0 mails") {
		t.Fatalf("purge --dry-run of fresh mail: exit %d: %s %s", code, out.String(), errb.String())
	}
	// Everything is younger than the shortest retention: purge as of a day from now.
	st, err := store.Open(filepath.Join(state, "triagem.db"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Purge(context.Background(), time.Now().Add(24*time.Hour), false)
	st.Close()
	if err != nil || r.Messages < 20 || len(r.Blobs) == 0 {
		t.Fatalf("purge: %+v %v", r, err)
	}
	sp, _ := spool.Open(filepath.Join(state, "spool"))
	present := 0 // sent draft mails are gone already
	for _, b := range r.Blobs {
		if _, err := sp.Get(b); err == nil {
			present++
		}
		sp.Remove(b)
		if _, err := sp.Get(b); err == nil {
			t.Errorf("blob %s is still in the spool after its removal", b)
		}
	}
	sp.Close()
	if present < 20 {
		t.Errorf("only %d of the %d blobs to purge were in the spool", present, len(r.Blobs))
	}
	out.Reset()
	if code := run(context.Background(), []string{"audit", "verify", "--config", cfgPath}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "OK:") {
		t.Fatalf("audit verify after a purge: exit %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	run(context.Background(), []string{"log", "--config", cfgPath, "--type", "audit"}, &out, &errb)
	if !strings.Contains(out.String(), "purge") {
		t.Errorf("the purge is not in the log:\n%s", out.String())
	}
	out.Reset()
	run(context.Background(), []string{"case", "--config", cfgPath, "TRG-4UNAANT5"}, &out, &errb)
	if !strings.Contains(out.String(), "no longer in the spool") {
		t.Errorf("case after purge:\n%s", out.String())
	}
}

// The four auditors' questions of issue 5, each one command (see the README).
func TestAuditorsQuestions(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--state", state}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d: %s", code, errb.String())
	}
	cfg := filepath.Join(state, "config.toml")
	ask := func(args ...string) string {
		t.Helper()
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), append(args[:1:1], append([]string{"--config", cfg}, args[1:]...)...), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	// 1. Which mails about refunds went where in a month, and why?
	month := time.Now().Format("2006-01")
	refunds := ask("log", "--category", "refund", "--type", "classified", "--since", month+"-01", "--format", "csv")
	if strings.Count(refunds, "\n") != 1+3 || !strings.Contains(refunds, "medico.online@example.test") || !strings.Contains(refunds, "procedure:") {
		t.Errorf("refunds of the month:\n%s", refunds)
	}
	// 2. Did any clinical complaint ever leave the clinical address?
	clinical := ask("log", "--category", "clinical", "--type", "sent", "--format", "jsonl")
	if strings.Count(clinical, "\n") == 0 {
		t.Fatal("no clinical sends at all")
	}
	for _, l := range strings.Split(strings.TrimSpace(clinical), "\n") {
		if strings.Contains(l, `"kind":"forward"`) && !strings.Contains(l, "areaclinica@example.test") {
			t.Errorf("a clinical forward left the clinical address: %s", l)
		}
	}
	// 3. Who approved this answer, and what did it say?
	story := ask("case", "TRG-4UNAANT5")
	if !strings.Contains(story, "approved by agentes@example.test") || !strings.Contains(story, "Para informações adicionais relacionadas com o seguro") {
		t.Errorf("who approved, and what it said:\n%s", story)
	}
	// 4. Everything that happened to this customer's case (found by NIF or address).
	byNIF := ask("case", "--nif", "245 678 905")
	if !strings.Contains(byNIF, "TRG-4UNAANT5") {
		t.Errorf("cases by NIF:\n%s", byNIF)
	}
	byAddr := ask("case", "--address", "ana.costa@clientes.example.test")
	if !strings.Contains(byAddr, "TRG-4UNAANT5") {
		t.Errorf("cases by address:\n%s", byAddr)
	}
	for _, want := range []string{"received", "classified", "queued", "drafted", "sent", "moved", "approved"} {
		if !strings.Contains(story, want) {
			t.Errorf("the story lacks %q", want)
		}
	}
	stats := ask("stats")
	if !strings.Contains(stats, "review rate") || !strings.Contains(stats, "median time from arrival to forward") {
		t.Errorf("stats:\n%s", stats)
	}
}

func TestAuditCheckpointAndServe(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--state", state}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d: %s", code, errb.String())
	}
	cfg := filepath.Join(state, "config.toml")
	cp := filepath.Join(t.TempDir(), "cp.json")
	out.Reset()
	if code := run(context.Background(), []string{"audit", "checkpoint", "--config", cfg, "--out", cp}, &out, &errb); code != 0 {
		t.Fatalf("checkpoint: exit %d %s", code, errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"audit", "verify", "--config", cfg, "--checkpoint", cp}, &out, &errb); code != 0 || !strings.Contains(out.String(), "matches the checkpoint") {
		t.Fatalf("verify against the checkpoint: exit %d\n%s%s", code, out.String(), errb.String())
	}

	// serve answers /healthz and /metrics until its context ends.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var sout, serr bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--config", cfg, "--listen", addr}, &sout, &serr) }()
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exit %d: %s", code, serr.String())
	}
	if !strings.Contains(body, "triagem_mail_received_total 21") {
		t.Errorf("/metrics from triagem serve:\n%s", body)
	}

	// hash-password refuses a short password.
	if err := cmdHashPassword(strings.NewReader("short\n"), &out); err == nil {
		t.Error("a 5-character password was hashed")
	}
	out.Reset()
	if err := cmdHashPassword(strings.NewReader("a long enough password\n"), &out); err != nil || !strings.HasPrefix(out.String(), "$argon2id$") {
		t.Errorf("hash-password: %v %q", err, out.String())
	}
}
