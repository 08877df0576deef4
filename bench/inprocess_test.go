package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/mailtest"
)

// BenchmarkBacklogInProcess is the backlog of TestBacklog on the in-process servers
// (go-imap's memory server, a go-smtp sink), 500 mails an iteration (BENCH_N others, to see
// how the cost of a mail grows with the backlog): triagem's CPU per
// mail without Postfix and Dovecot competing for the cores, steady enough to compare two
// versions of the code. The servers' own CPU is in cpu-ns/mail too; it does not change
// with triagem's code. Run with
//
//	go test -run XXX -bench BacklogInProcess -benchtime 3x ./bench
func BenchmarkBacklogInProcess(b *testing.B) {
	perRun := 500
	if os.Getenv("BENCH_N") != "" {
		perRun = n()
	}
	mails := corpus(b, perRun)
	var cpu, took time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		im, sm := mailtest.StartServers(b, nil, "suporte@example.test", "demo")
		for _, m := range mails {
			if err := im.Append("suporte@example.test", "INBOX", m); err != nil {
				b.Fatal(err)
			}
		}
		cfg, err := demo.Config(b.TempDir(), im.Addr, sm.Addr)
		if err != nil {
			b.Fatal(err)
		}
		a, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		cpu0, start := cpuTime(), time.Now()
		b.StartTimer()
		sum, err := a.RunOnce(context.Background())
		b.StopTimer()
		took += time.Since(start)
		cpu += cpuTime() - cpu0
		a.Close()
		if err != nil {
			b.Fatal(err)
		}
		if sum.Decided != perRun || sum.Moved != perRun {
			b.Fatalf("summary %+v, want %d decided and moved", sum, perRun)
		}
	}
	b.ReportMetric(float64(took.Nanoseconds())/float64(b.N*perRun), "ns/mail")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perRun), "cpu-ns/mail")
	b.ReportMetric(0, "ns/op")
}
