package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triagem/triagem/store"
)

// Canary NIFs and clinical sentences go through the whole pipeline; afterwards the
// database files and the daemon's logs hold none of them in plain text. (The raw mail is
// in the spool, under audit.retention, and nowhere else.)
func TestNoCanaryReachesTheDatabaseOrTheLogs(t *testing.T) {
	e := approvalEnv(t, nil)
	var logs bytes.Buffer
	e.app.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	canaryNIFs := []string{"286579758", "232319480", "257491180"}
	canarySentences := []string{
		"tenho uma dor no peito que não passa desde a cirurgia ao coração",
		"fiquei com uma reação alérgica grave ao antibiótico que a médica receitou",
		"o médico recusou-se a examinar a ferida infetada da minha perna",
	}
	for i := range canaryNIFs {
		raw := fmt.Sprintf("From: Cliente %d <canario%d@clientes.example.test>\r\nTo: suporte@example.test\r\nSubject: Reclamação\r\nMessage-ID: <canary%d@x.example.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nQuero reclamar da consulta: %s. Não aceito esta conduta.\r\nO meu NIF é %s.\r\nMaria Canário\r\n",
			i, i, i, canarySentences[i], canaryNIFs[i])
		e.deliver(t, []byte(raw))
	}
	// Each is forwarded to the clinical address, with drafts and tokens for the agents.
	evs, _ := e.app.Store.Events(context.Background(), store.Filter{Type: store.EvClassified})
	if len(evs) != 3 {
		t.Fatalf("%d classified events", len(evs))
	}
	for _, ev := range evs {
		if ev.Fields()["category"] != "clinical" {
			t.Errorf("canary %s classified %v", ev.CaseRef, ev.Fields()["category"])
		}
	}
	e.app.Store.DB().Exec(`PRAGMA wal_checkpoint(PASSIVE)`)

	var files []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		files = append(files, filepath.Join(e.dir, "triagem.db"+suffix))
	}
	contents := map[string][]byte{"the daemon's log": logs.Bytes()}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			contents[f] = b
		}
	}
	if len(contents) < 2 {
		t.Fatal("no database file was read")
	}
	for where, b := range contents {
		for _, c := range append(append([]string{}, canaryNIFs...), canarySentences...) {
			if bytes.Contains(b, []byte(c)) {
				t.Errorf("%s holds the canary %q", where, c)
			}
			// Parts of a sentence count too: any five consecutive words.
			w := strings.Fields(c)
			for i := 0; i+5 <= len(w); i++ {
				if frag := strings.Join(w[i:i+5], " "); bytes.Contains(b, []byte(frag)) {
					t.Errorf("%s holds part of a clinical sentence: %q", where, frag)
				}
			}
		}
	}
}
