// Package web serves the read-only auditors' page (log, case timelines, CSV export and
// statistics, behind a login), /metrics for Prometheus, and /healthz.
package web

import (
	"context"
	"embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/metrics"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/store"
)

//go:embed assets/*
var assets embed.FS

const sessionCookie, csrfCookie = "triagem_session", "triagem_csrf"

// Server is the HTTP side of one triagem instance. It only reads.
type Server struct {
	app      *daemon.App
	log      *slog.Logger
	tls      bool
	tmpl     *template.Template
	sessions *sessions
	csrf     csrf
}

// New prepares the server for app.
func New(app *daemon.App) (*Server, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"when": func(ms int64) string { return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05") },
		"dur":  func(d time.Duration) string { return roundDur(d) },
	}).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, err
	}
	secret := []byte(newID())
	return &Server{app: app, log: app.Log, tls: app.Cfg.Web.TLSCert != "", tmpl: t,
		sessions: &sessions{ttl: app.Cfg.Web.SessionTTL.Duration, byID: map[string]session{}}, csrf: csrf{secret}}, nil
}

// Handler routes every request. Only GET (and POST for login and logout) is served.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.auth(s.logout))
	mux.HandleFunc("GET /{$}", s.auth(s.logPage))
	mux.HandleFunc("GET /export.csv", s.auth(s.export))
	mux.HandleFunc("GET /case/{ref}", s.auth(s.casePage))
	mux.HandleFunc("GET /stats", s.auth(s.statsPage))
	return secure(mux)
}

// secure sets the headers that keep the page inert: no scripts at all, no framing, no
// sniffing, no referrer.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// Serve answers on addr until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web.listen %s: %w", addr, err)
	}
	return s.ServeListener(ctx, l)
}

// ServeListener answers on l until ctx ends.
func (s *Server) ServeListener(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	var err error
	if s.tls {
		err = srv.ServeTLS(l, s.app.Cfg.Web.TLSCert, s.app.Cfg.Web.TLSKey)
	} else {
		err = srv.Serve(l)
	}
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	fams, err := s.app.Metrics(r.Context())
	if err != nil {
		http.Error(w, "metrics unavailable: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	metrics.Write(w, fams)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := s.app.Health(time.Now())
	w.Header().Set("Content-Type", "application/json")
	if !h.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}

// auth lets a request through only with a live session.
func (s *Server) auth(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err == nil {
			if user, ok := s.sessions.user(c.Value); ok {
				next(w, r, user)
				return
			}
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	}
}

func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.tls, SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
}

// nonce returns the browser's CSRF nonce, setting one when it has none.
func (s *Server) nonce(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		return c.Value
	}
	n := newID()
	http.SetCookie(w, s.cookie(csrfCookie, n, 0))
	return n
}

func (s *Server) render(w http.ResponseWriter, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.tmpl.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render page", "page", name, "error", err)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, "login.html", map[string]any{"CSRF": s.csrf.token(s.nonce(w, r)), "Next": safeNext(r.URL.Query().Get("next")),
		"Error": r.URL.Query().Get("failed") != "", "NoAuditors": len(s.app.Cfg.Web.Auditors) == 0})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !s.csrf.valid(c.Value, r.PostForm.Get("csrf")) {
		http.Error(w, "the form expired or did not come from this page: reload the login page", http.StatusForbidden)
		return
	}
	user, pass := r.PostForm.Get("user"), r.PostForm.Get("password")
	for _, a := range s.app.Cfg.Web.Auditors {
		if a.Name == user && CheckPassword(a.PasswordHash, pass) {
			http.SetCookie(w, s.cookie(sessionCookie, s.sessions.create(user), 0))
			s.log.Info("auditor logged in", "user", user, "from", r.RemoteAddr)
			http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
			return
		}
	}
	s.log.Warn("auditor login refused", "user", user, "from", r.RemoteAddr)
	time.Sleep(300 * time.Millisecond) // slow guessing down a little
	http.Redirect(w, r, "/login?failed=1&next="+url.QueryEscape(safeNext(r.PostForm.Get("next"))), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ string) {
	r.ParseForm()
	if c, err := r.Cookie(csrfCookie); err != nil || !s.csrf.valid(c.Value, r.PostForm.Get("csrf")) {
		http.Error(w, "bad form", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.end(c.Value)
	}
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\r\n") {
		return "/"
	}
	return n
}

// filterOf reads the log filters from a query string, as the CLI takes them.
func (s *Server) filterOf(q url.Values) (store.Filter, error) {
	f := store.Filter{Type: q.Get("type"), CaseRef: strings.TrimSpace(q.Get("case")), Category: q.Get("category"),
		Action: q.Get("action"), Address: strings.TrimSpace(q.Get("address")), Agent: strings.TrimSpace(q.Get("agent"))}
	var err error
	if f.Since, err = parseDate(q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseDate(q.Get("until")); err != nil {
		return f, err
	}
	if !f.Until.IsZero() && len(q.Get("until")) == len("2006-01-02") {
		f.Until = f.Until.AddDate(0, 0, 1) // a day given as "until" includes that day
	}
	if nif := strings.TrimSpace(q.Get("nif")); nif != "" {
		f.NIFHash = s.app.HashNIF(nif)
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 200
	}
	return f, nil
}

func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date like 2025-03-01", s)
}

// row is one event as the page shows it.
type row struct {
	store.Event
	Summary string
}

func (s *Server) logPage(w http.ResponseWriter, r *http.Request, user string) {
	f, ferr := s.filterOf(r.URL.Query())
	var rows []row
	var err error
	if ferr == nil {
		var evs []store.Event
		evs, err = s.app.Store.Events(r.Context(), f)
		for i := len(evs) - 1; i >= 0; i-- { // newest first on the page
			rows = append(rows, row{evs[i], Summarize(evs[i])})
		}
	}
	msg := ""
	if ferr != nil {
		msg = ferr.Error()
	} else if err != nil {
		msg = err.Error()
	}
	q := r.URL.Query()
	s.render(w, "log.html", map[string]any{"User": user, "CSRF": s.csrf.token(s.nonce(w, r)), "Rows": rows, "Error": msg,
		"Q": q, "Export": "/export.csv?" + q.Encode(), "Categories": s.categories(), "Types": eventTypes})
}

var eventTypes = []string{store.EvReceived, store.EvIgnored, store.EvQuarantined, store.EvDuplicate, store.EvClassified, store.EvQueued,
	store.EvSent, store.EvRetry, store.EvFailed, store.EvMoved, store.EvAlert, store.EvDrafted, store.EvApproved, store.EvEdited,
	store.EvRejected, store.EvRefused, store.EvReplay, store.EvDeptAnswer, store.EvAudit}

func (s *Server) categories() []string {
	var out []string
	for _, c := range s.app.Cfg.Categories {
		out = append(out, c.Name)
	}
	return out
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, _ string) {
	f, err := s.filterOf(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Query().Get("limit") == "" {
		f.Limit = 100000
	}
	evs, err := s.app.Store.Events(r.Context(), f)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="triagem-log.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"seq", "time", "event", "case", "details", "data", "hash"})
	for _, e := range evs {
		cw.Write([]string{strconv.FormatInt(e.Seq, 10), time.UnixMilli(e.At).UTC().Format(time.RFC3339), e.Type, e.CaseRef,
			CSVSafe(Summarize(e)), CSVSafe(e.Data), e.Hash})
	}
	cw.Flush()
}

// CSVSafe keeps a spreadsheet from running a cell as a formula (=, +, -, @): the CLI's
// CSV and the page's export both use it.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// draftView is a draft and the text that went out.
type draftView struct {
	store.Draft
	Sent, Diff string
	Gone       bool
}

func (s *Server) casePage(w http.ResponseWriter, r *http.Request, user string) {
	ref := strings.ToUpper(r.PathValue("ref"))
	msgs, err := s.app.Store.CasesByRef(r.Context(), ref)
	if err != nil || len(msgs) == 0 {
		http.Error(w, "no case "+ref, http.StatusNotFound)
		return
	}
	evs, err := s.app.Store.Events(r.Context(), store.Filter{CaseRef: ref, Limit: 10000})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var rows []row
	for _, e := range evs {
		rows = append(rows, row{e, Summarize(e)})
	}
	drafts, _ := s.app.Store.DraftsOf(r.Context(), ref)
	var dv []draftView
	for _, d := range drafts {
		v := draftView{Draft: d}
		if d.Sent() {
			if b, err := s.app.Spool.Get(d.FinalBlob); d.FinalBlob != "" && err == nil {
				v.Sent = string(b)
			} else {
				v.Gone = true
			}
			if d.DiffBlob != "" {
				if b, err := s.app.Spool.Get(d.DiffBlob); err == nil {
					v.Diff = string(b)
				}
			}
		}
		dv = append(dv, v)
	}
	// Only the subject is needed: parse, never re-decide (that would classify again, and
	// could even ask the language model, on a page view).
	subject := ""
	if msgs[0].Blob != "" && !s.sensitiveCase(msgs[0].Category) {
		if raw, err := s.app.Spool.Get(msgs[0].Blob); err == nil {
			if pm, err := parse.Parse(raw, daemon.ParseLimits(s.app.Cfg)); err == nil {
				subject = pm.Subject
			}
		}
	}
	s.render(w, "case.html", map[string]any{"User": user, "CSRF": s.csrf.token(s.nonce(w, r)), "Ref": ref, "First": msgs[0],
		"Subject": subject, "Rows": rows, "Drafts": dv})
}

func (s *Server) sensitiveCase(category string) bool {
	c := s.app.Cfg.Category(category)
	return c != nil && c.Sensitive
}

// bar is one stacked bar of the volume chart.
type bar struct {
	Day   string
	X     int
	Parts []part
	Total int
}

type part struct {
	Category string
	Y, H     int
	Class    string
}

func (s *Server) statsPage(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query()
	since, err1 := parseDate(q.Get("since"))
	until, err2 := parseDate(q.Get("until"))
	if err := errors.Join(err1, err2); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if since.IsZero() {
		since = time.Now().AddDate(0, 0, -30)
	}
	st, err := s.app.Store.Stats(r.Context(), since, until)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var days []string
	max := 1
	for d, m := range st.ByDay {
		days = append(days, d)
		n := 0
		for _, v := range m {
			n += v
		}
		if n > max {
			max = n
		}
	}
	sort.Strings(days)
	cats := append(s.categories(), "(not classified)")
	const height, width = 160, 18
	var bars []bar
	for i, d := range days {
		b := bar{Day: d, X: 40 + i*(width+6)}
		y := height
		for ci, c := range cats {
			n := st.ByDay[d][c]
			if n == 0 {
				continue
			}
			h := n * height / max
			if h < 1 {
				h = 1
			}
			y -= h
			b.Parts = append(b.Parts, part{Category: c, Y: y, H: h, Class: fmt.Sprintf("c%d", ci%8)})
			b.Total += n
		}
		bars = append(bars, b)
	}
	var legend []part
	for ci, c := range cats {
		legend = append(legend, part{Category: c, Class: fmt.Sprintf("c%d", ci%8), Y: 14 + ci*16})
	}
	type kv struct {
		K string
		V int
	}
	sorted := func(m map[string]int) []kv {
		var out []kv
		for k, v := range m {
			out = append(out, kv{k, v})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].V > out[j].V || (out[i].V == out[j].V && out[i].K < out[j].K) })
		return out
	}
	maxT := st.ArrivalToForward
	if st.DraftToDecision > maxT {
		maxT = st.DraftToDecision
	}
	scale := func(d time.Duration) int {
		if maxT == 0 {
			return 0
		}
		return int(int64(d) * 300 / int64(maxT))
	}
	s.render(w, "stats.html", map[string]any{"User": user, "CSRF": s.csrf.token(s.nonce(w, r)), "S": st, "Since": since.Format("2006-01-02"),
		"Bars": bars, "Legend": legend, "ChartW": 60 + len(days)*(width+6), "BarW": width, "H": height,
		"ByCategory": sorted(st.ByCategory), "ByDestination": sorted(st.ByDestination), "ByAction": sorted(st.ByAction),
		"ForwardW": scale(st.ArrivalToForward), "DecisionW": scale(st.DraftToDecision), "Review": fmt.Sprintf("%.1f", 100*st.ReviewRate)})
}

func roundDur(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Summarize is the short reading of an event, as the CLI shows it.
func Summarize(e store.Event) string {
	m := e.Fields()
	var parts []string
	for _, k := range []string{"category", "action", "confidence", "kind", "draft", "by", "to", "folder", "how", "reason", "reply", "detail", "from", "matched_by", "size"} {
		if v, ok := m[k]; ok && v != "" && v != nil {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}
