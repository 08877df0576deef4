package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/store"
)

// hostile is the project's own set of broken and malicious mail, built here so that the
// large ones need not be committed.
func hostile() map[string][]byte {
	h := "From: Cliente <c@clientes.example.test>\r\nTo: suporte@example.test\r\nSubject: %s\r\nMessage-ID: <%s@h.example.test>\r\n"
	mk := func(name, extra, body string) []byte {
		return []byte(fmt.Sprintf(h, name, name) + extra + "\r\n" + body)
	}
	out := map[string][]byte{}
	out["missing-boundary"] = mk("missing-boundary", "Content-Type: multipart/mixed\r\n", "--x\r\n\r\nNão recebi a receita.\r\n")
	out["unclosed-multipart"] = mk("unclosed", "Content-Type: multipart/mixed; boundary=b\r\n", "--b\r\nContent-Type: text/plain\r\n\r\nPreciso da fatura.\r\n--b\r\nContent-Type: text/plain\r\n\r\ntrunc")
	var deep strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&deep, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	deep.WriteString("--b1000\r\nContent-Type: text/plain\r\n\r\nfundo\r\n")
	out["nesting-1000"] = mk("nesting", "Content-Type: multipart/mixed; boundary=b0\r\n", deep.String())
	out["header-line-1mb"] = mk("long-header", "X-Long: "+strings.Repeat("a", 1<<20)+"\r\n", "Olá\r\n")
	out["invalid-base64"] = mk("bad-b64", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n", "!!!! não é base64 $$$$\r\n")
	out["unknown-charset"] = mk("charset", "Content-Type: text/plain; charset=x-klingon-7\r\n", "Ol\xe1, a app n\xe3o abre.\r\n")
	out["8bit-headers"] = []byte("From: Jos\xe9 <j@clientes.example.test>\r\nSubject: Fatura n\xe3o recebida \xff\xfe\r\nMessage-ID: <8bit@h.example.test>\r\n\r\nPreciso da fatura.\r\n")
	out["no-message-id"] = []byte("From: c@clientes.example.test\r\nSubject: sem id\r\n\r\nNão consigo entrar na app.\r\n")
	out["no-from"] = []byte("Subject: sem remetente\r\nMessage-ID: <nofrom@h.example.test>\r\n\r\nFui cobrado duas vezes.\r\n")
	out["tnef"] = mk("tnef", "Content-Type: multipart/mixed; boundary=t\r\n", "--t\r\nContent-Type: text/plain\r\n\r\nSegue em anexo.\r\n--t\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgEAAQaQCAAEAAAAAAABAAEAAQeQBgAIAAAA5AQAAAAAAADoAAEIgAcAGAAAAElQTS5NaWNy\r\n--t--\r\n")
	out["rfc822-wrappers"] = mk("wrapped", "Content-Type: message/rfc822\r\n", "From: x@y\r\nContent-Type: message/rfc822\r\n\r\nFrom: z@w\r\nSubject: dentro\r\n\r\nNão recebi o atestado.\r\n")
	// A zip bomb: a tiny zip whose content would expand enormously. triagem never unpacks
	// attachments, so it costs what its bytes cost.
	out["zip-bomb"] = mk("zip", "Content-Type: multipart/mixed; boundary=z\r\n", "--z\r\nContent-Type: text/plain\r\n\r\nSegue o recibo.\r\n--z\r\nContent-Type: application/zip; name=recibo.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBBQAAAAIAAAAIQAAAAAAAAAAAAAAAAAIAAAAYm9tYi50eHTtwTEBAAAAwqD1T20ND6AAAHgaUEsBAhQAFAAAAAgAAAAhAAAAAAAAAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAAAGJvbWIudHh0UEsFBgAAAAABAAEANgAAACYAAAAAAA==\r\n--z--\r\n")
	out["header-injection"] = []byte("From: =?utf-8?q?Ana=0D=0ABcc:_x@evil.example?= <ana@clientes.example.test>\r\nSubject: =?utf-8?q?Fatura=0D=0ATo:_y@evil.example?=\r\nMessage-ID: <inj@h.example.test>\r\n\r\nPreciso da fatura, enviem para x@evil.example.\r\n")
	out["empty"] = []byte{}
	out["binary-garbage"] = bytes.Repeat([]byte{0, 0xff, 0x1b, '\r', '\n', 0x80}, 5000)
	var parts strings.Builder
	for i := 0; i < 5000; i++ {
		parts.WriteString("--p\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	out["5000-parts"] = mk("parts", "Content-Type: multipart/mixed; boundary=p\r\n", parts.String()+"--p--\r\n")
	big := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n"), 25<<20/38)
	out["25mb-attachment"] = append(mk("big", "Content-Type: multipart/mixed; boundary=g\r\n",
		"--g\r\nContent-Type: text/plain\r\n\r\nSegue a digitalização da receita.\r\n--g\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"), append(big, []byte("--g--\r\n")...)...)
	return out
}

// Every hostile mail gets a decision (processed, or quarantined with a reason), none is
// dropped, none crashes or hangs the daemon, and nothing goes to an address it names.
func TestHostileMailThroughThePipeline(t *testing.T) {
	e := start(t)
	mails := hostile()
	for name, raw := range mails {
		if len(raw) == 0 {
			raw = []byte(" ") // an IMAP APPEND needs a byte; the parser sees an empty mail
		}
		if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
			t.Fatalf("append %s: %v", name, err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := e.app.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if sum.Fetched != len(mails) || sum.Decided != len(mails) {
		t.Fatalf("summary %+v for %d mails: something was dropped", sum, len(mails))
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "INBOX"); n != 0 {
		t.Errorf("INBOX still holds %d", n)
	}
	cases, _ := e.app.Store.Cases(ctx, 1000)
	outcomes := map[string]int{}
	for _, c := range cases {
		outcomes[c.Action]++
		if c.Action == "quarantine" && c.Reason == "" {
			t.Errorf("%s quarantined without a reason", c.CaseRef)
		}
	}
	for _, o := range mustOutbox(t, e) {
		for _, r := range o.Rcpts {
			if strings.Contains(r, "evil") || !e.app.Cfg.Recipients()[r] {
				t.Errorf("a hostile mail made triagem send to %s", r)
			}
		}
	}
	for _, d := range e.smtp.Deliveries() {
		if bytes.Contains(header(d.Data, "Bcc"), []byte("evil")) || bytes.Contains(header(d.Data, "To"), []byte("evil")) {
			t.Errorf("an injected header reached an outgoing message")
		}
	}
	t.Logf("%d hostile mails: %v; heap grew %d MB while processing (%d MB allocated in all)", len(mails), outcomes,
		(int64(after.HeapInuse)-int64(before.HeapInuse))>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
}

func mustOutbox(t *testing.T, e *env) []store.OutMessage {
	t.Helper()
	o, err := e.app.Store.AllOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return o
}
