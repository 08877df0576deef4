# Shorthands for the project's scripts; each target only calls one of them, so the
# scripts stay the single source of what runs (and CI calls scripts/test.sh directly).
.PHONY: demo test test-short bench reliability

demo:          ## the daemon on the sample mails, with in-process IMAP and SMTP
	go run ./cmd/triagem demo

test:          ## the whole suite, as CI runs it (installs Dovecot, Postfix, Chromium: root)
	scripts/test.sh

test-short:    ## unit and in-process tests only, no real mail servers
	scripts/test.sh -short

bench:         ## the load harness against real Dovecot + Postfix (BENCH_N=1000 for a shorter run)
	scripts/bench.sh

reliability:   ## the fault and hostile-input suite (docs/RELIABILITY.md)
	scripts/reliability.sh
