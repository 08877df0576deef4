package bench

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem/config"
)

// TestPeakRSS runs the built binary, `triagem run --once`, on a mail with a 25 MB scan, a
// mail of 5,000 parts and a backlog, each on a fresh state, and reports each process's
// peak resident memory (getrusage's ru_maxrss): the figure an operator's systemd shows.
func TestPeakRSS(t *testing.T) {
	st := enabled(t)
	bin := filepath.Join(t.TempDir(), "triagem")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/triagem").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	k := min(n(), 1000)
	for _, c := range []struct {
		name  string
		mails [][]byte
	}{
		{"an empty inbox", nil},
		{"a mail with a 25 MB scan", [][]byte{scanMail(25 << 20)}},
		{"a mail of 5,000 parts", [][]byte{manyParts(5000)}},
		{fmt.Sprintf("a backlog of %d mails", k), corpus(t, k)},
	} {
		tag := fmt.Sprintf("rss%d", rand.IntN(1_000_000))
		cfg, inbox := benchConfig(t, st, tag, nil)
		path := filepath.Join(filepath.Dir(cfg.Daemon.StateDir), "config.toml") // beside the state, as in the e2e tests
		if err := config.Write(path, cfg); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.mails {
			if err := st.Append(inbox, "INBOX", m); err != nil {
				t.Fatal(err)
			}
		}
		quiet(t, st)
		cmd := exec.Command(bin, "run", "--once", "--config", path)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		peak := watchPeak(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, stderr.String())
		}
		kb := <-peak
		row("peak RSS of `triagem run --once`, %s | %d MB | | | < 150 MB", c.name, kb>>10)
		note("%s: %s", c.name, strings.TrimSpace(firstLine(stdout.String())))
	}
}

// watchPeak follows a process's VmHWM (its peak resident memory) until it exits, and
// sends the last value read. getrusage cannot tell: after a vfork-style exec from this
// test process, its ru_maxrss starts at the test's own size.
func watchPeak(pid int) <-chan int {
	out := make(chan int, 1)
	go func() {
		peak := 0
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil || !strings.Contains(string(b), "VmHWM:") { // gone, or a zombie
				out <- peak
				return
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					var kb int
					fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
					peak = max(peak, kb)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// scanMail is a customer's request with a scanned document of about size bytes attached.
func scanMail(size int) []byte {
	r := rand.New(rand.NewPCG(25, 25))
	raw := make([]byte, size*3/4)
	for i := range raw {
		raw[i] = byte(r.IntN(256))
	}
	var m bytes.Buffer
	m.WriteString("From: Maria Silva <maria.silva@clientes.example.test>\r\nTo: suporte@example.test\r\n" +
		"Subject: Segunda via da receita\r\nMessage-ID: <scan25@clientes.example.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"s\"\r\n\r\n--s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Bom dia, preciso da segunda via da receita da consulta de ontem. Segue a digitalização.\r\n" +
		"Maria Silva, NIF 123456789\r\n--s\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		m.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	m.WriteString(enc + "\r\n--s--\r\n")
	return m.Bytes()
}

// manyParts is a mail of n tiny parts.
func manyParts(n int) []byte {
	var m bytes.Buffer
	m.WriteString("From: c@clientes.example.test\r\nTo: suporte@example.test\r\nSubject: anexos\r\n" +
		"Message-ID: <parts5000@clientes.example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range n {
		m.WriteString("--p\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	m.WriteString("--p--\r\n")
	return m.Bytes()
}
