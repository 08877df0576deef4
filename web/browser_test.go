package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// An auditor's session in a real headless Chromium (Debian's package, which
// scripts/test.sh installs): log in, filter, open a case, export CSV, and see a mail's
// <script> subject as text. The screenshot's path is in the test output.
func TestAuditorInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI must run this test: scripts/test.sh installs Debian's chromium")
		}
		t.Skip("chromium is not installed (scripts/test.sh installs Debian's chromium package)")
	}
	s := start(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1366, 850), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	run("log in",
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("user"), "auditora"),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("enter")),
		chromedp.WaitVisible(chromedp.ID("events")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(loc, "/login") {
		t.Fatalf("still on the login page after logging in: %s", loc)
	}

	// waitURL waits for a click's navigation: the old page's elements are still there
	// until the new page replaces them.
	waitURL := func(part string) string {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			loc, err := chromedp.Run(ctx, chromedp.Location())
			if err == nil && strings.Contains(loc, part) {
				return loc
			}
			if time.Now().After(deadline) {
				t.Fatalf("the browser did not reach a URL with %q (at %s, %v)", part, loc, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run("filter by category",
		chromedp.SetValue(chromedp.ID("category"), "refund"),
		chromedp.Click(chromedp.ID("apply")))
	loc := waitURL("category=refund")
	run("the filtered log", chromedp.WaitVisible(chromedp.ID("events")))
	rows := eval(`String(document.querySelectorAll('#events tbody tr a[href^="/case/"]').length)`)
	cats := eval(`[...document.querySelectorAll('#events tbody td:nth-child(5)')].map(td => (td.textContent.match(/category=(\w+)/) || [,''])[1]).filter(Boolean).join(',')`)
	if !strings.Contains(loc, "category=refund") || rows == "0" {
		t.Fatalf("after filtering: %s, %s rows with a case", loc, rows)
	}
	for _, c := range strings.Split(cats, ",") {
		if c != "refund" {
			t.Errorf("a %q event in the refund filter (%s)", c, cats)
		}
	}

	run("open a case", chromedp.Click(chromedp.CSS(`#events tbody tr a[href^="/case/"]`)))
	waitURL("/case/TRG-")
	run("the case page", chromedp.WaitVisible(chromedp.ID("timeline")))
	title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("case")))
	if n, _ := strconv.Atoi(eval(`String(document.querySelectorAll('#timeline tbody tr').length)`)); !strings.HasPrefix(title, "Caso TRG-") || n < 4 {
		t.Errorf("case page: %q with %d events", title, n)
	}

	run("back to the filtered log", chromedp.Navigate(s.URL+"/?category=refund"), chromedp.WaitVisible(chromedp.ID("export")))
	csvText := eval(`fetch(document.getElementById('export').href).then(r => r.text())`)
	if !strings.HasPrefix(csvText, "seq,time,event,case") || !strings.Contains(csvText, "category=refund") {
		t.Errorf("CSV from the page's export link:\n%s", csvText)
	}

	run("the <script> mail's case", chromedp.Navigate(s.URL+"/case/"+scriptRef(t, s)), chromedp.WaitVisible(chromedp.ID("subject")))
	subject, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("subject")))
	if !strings.Contains(subject, "<script>alert('xss')</script>") {
		t.Errorf("subject shown as %q, want the markup as text", subject)
	}
	if n := eval(`String(document.querySelectorAll('script, img, iframe').length)`); n != "0" {
		t.Errorf("%s script/img/iframe elements on the page", n)
	}

	run("the stats page", chromedp.Navigate(s.URL+"/stats"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("TRIAGEM_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "triagem-auditors-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the stats page: %s (%d bytes)", shot, len(png))
}
