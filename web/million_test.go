package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/store/storetest"
	"github.com/triagem/triagem/web"
)

// The page's side of the auditors' target: a filtered log page over a million events in
// under 50 ms, rendering included. Run with
//
//	go test -run XXX -bench Million -benchtime 20x ./web
func BenchmarkMillionLogPage(b *testing.B) {
	db := storetest.MillionDB(b)
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Daemon.StateDir = filepath.Dir(db)
	h, _ := web.HashPassword(password)
	cfg.Web.Auditors = []config.Auditor{{Name: "auditora", PasswordHash: h}}
	app, err := daemon.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	srv, err := web.New(app)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	s := &site{URL: ts.URL, app: app}
	c := client(b)
	if r := login(b, s, c, "auditora", password); r.StatusCode != http.StatusSeeOther || strings.Contains(r.Header.Get("Location"), "failed") {
		b.Fatalf("login: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	for name, q := range map[string]url.Values{
		"latest":          {},
		"refund in March": {"category": {"refund"}, "since": {"2025-03-01"}, "until": {"2025-03-31"}},
		"one address":     {"address": {"rute.joao.externo@ageas.pt"}},
		"one agent":       {"agent": {"agente3@medicoonline.pt"}, "type": {"approved"}},
		"failed":          {"action": {"failed"}},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				resp, err := c.Get(ts.URL + "/?" + q.Encode())
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %v", resp.StatusCode, err)
				}
				resp.Body.Close()
			}
		})
	}
}
