package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/web"
)

const password = "correct horse battery staple"

// scriptMail carries markup in every place a mail can put it.
const scriptMail = "From: \"<b>Eve</b> <script>alert(1)</script>\" <eve@clientes.example.test>\r\n" +
	"To: suporte@example.test\r\nSubject: Fatura <script>alert('xss')</script> da consulta\r\n" +
	"Message-ID: <script-subject@x.example.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
	"Podem enviar-me a fatura da consulta? <img src=x onerror=alert(2)>\r\nEve <script>x</script> Lopes\r\n"

type site struct {
	URL  string
	app  *daemon.App
	stop func()
}

// start runs the demo mail plus scriptMail through a daemon and serves its page.
func start(t *testing.T) *site {
	t.Helper()
	im, sm := mailtest.StartServers(t, nil, "suporte@example.test", "demo")
	files, _ := filepath.Glob("../demo/mails/*.eml")
	sort.Strings(files)
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		im.Append("suporte@example.test", "INBOX", raw)
	}
	im.Append("suporte@example.test", "INBOX", []byte(scriptMail))
	dir := t.TempDir()
	cfg, err := demo.Config(dir, im.Addr, sm.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Web.Auditors = []config.Auditor{{Name: "auditora", PasswordHash: h}}
	app, err := daemon.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(app)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeListener(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return &site{URL: "http://" + l.Addr().String(), app: app}
}

func client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func login(t testing.TB, s *site, c *http.Client, user, pass string) *http.Response {
	t.Helper()
	_, page := get(t, c, s.URL+"/login")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the login page:\n%s", page)
	}
	resp, err := c.PostForm(s.URL+"/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {pass}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestLoginIsRequiredAndSafe(t *testing.T) {
	s := start(t)
	c := client(t)
	for _, p := range []string{"/", "/case/TRG-4UNAANT5", "/export.csv", "/stats"} {
		if resp, _ := get(t, c, s.URL+p); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("%s without a session: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A login without the form's CSRF token is refused.
	resp, err := c.PostForm(s.URL+"/login", url.Values{"user": {"auditora"}, "password": {password}})
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF: %v %v", resp.StatusCode, err)
	}
	if r := login(t, s, c, "auditora", "wrong password!"); !strings.Contains(r.Header.Get("Location"), "failed") {
		t.Errorf("a wrong password: %s", r.Header.Get("Location"))
	}
	r := login(t, s, c, "auditora", password)
	var session *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "triagem_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: must be HttpOnly and SameSite", session)
	}
	resp2, page := get(t, c, s.URL+"/")
	if resp2.StatusCode != 200 || !strings.Contains(page, "classified") {
		t.Fatalf("the log after login: %d", resp2.StatusCode)
	}
	if csp := resp2.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// Nothing changes state: writes are not routed.
	for _, p := range []string{"/", "/export.csv", "/case/TRG-4UNAANT5"} {
		resp, _ := c.Post(s.URL+p, "application/x-www-form-urlencoded", strings.NewReader("x=1"))
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", p, resp.StatusCode)
		}
	}
	// Everything from a mail is escaped.
	_, cp := get(t, c, s.URL+"/case/"+scriptRef(t, s))
	if strings.Contains(cp, "<script>") || !strings.Contains(cp, "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;") {
		t.Errorf("the <script> subject is not escaped:\n%s", cp)
	}
	// CSV export follows the filters.
	_, csvText := get(t, c, s.URL+"/export.csv?category=refund")
	if !strings.HasPrefix(csvText, "seq,time,event,case") || !strings.Contains(csvText, "refund") || strings.Contains(csvText, "category=invoice") {
		t.Errorf("CSV export:\n%s", csvText)
	}
}

// scriptRef is the case of scriptMail.
func scriptRef(t *testing.T, s *site) string {
	rows, err := s.app.Store.Cases(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.MessageID == "script-subject@x.example.test" {
			return r.CaseRef
		}
	}
	t.Fatal("the script mail has no case")
	return ""
}

func TestMetricsAndHealth(t *testing.T) {
	s := start(t)
	c := client(t)
	resp, body := get(t, c, s.URL+"/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"triagem_mail_received_total 21", "triagem_mail_ignored_total 3", `triagem_mail_classified_total{category="refund"} 3`,
		`triagem_mail_forwarded_total{category="invoice"} 3`, "triagem_review_queue", "triagem_outbox_depth 0", "triagem_outbox_oldest_age_seconds 0",
		`triagem_imap_last_success_timestamp_seconds{inbox="suporte"}`, `triagem_smtp_errors_total{kind="temporary"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	// No person is in the metrics: no address, no name, no NIF of the demo's customers.
	for _, personal := range []string{"ana.costa", "Ana Rita", "245678905", "@clientes.example.test"} {
		if strings.Contains(body, personal) {
			t.Errorf("/metrics holds %q", personal)
		}
	}
	resp, body = get(t, c, s.URL+"/healthz")
	if resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) || !strings.Contains(body, `"suporte"`) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
}
