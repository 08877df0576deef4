#!/usr/bin/env bash
# bench.sh — the load harness (docs/PERFORMANCE.md): triagem against real Dovecot and
# Postfix on loopback, each figure next to the stack's own ceiling from the same run.
#
#   scripts/bench.sh              a backlog of 5,000 mails, push latency over 50 mails,
#                                 peak memory (25 MB mail, 5,000 parts, 1,000-mail backlog)
#   BENCH_N=500 scripts/bench.sh  a smaller backlog
#   BENCH_CONNECTIONS=8, BENCH_DAEMON=1   other sender counts; the daemon instead of --once
#   BENCH_DELIVERY=live           Postfix delivers into Dovecot during the timed runs, instead of
#                                 holding their messages until each has ended
#   BENCH_CEILINGS=1              the ceiling measured once per run instead of three times (the median)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_N=${BENCH_N:-5000}
# The stack's queue and mailboxes and triagem's state live under /var/tmp, as under /var
# in production: on this kind of VM, creating files under /tmp cost up to a millisecond
# each (docs/PERFORMANCE.md), which would slow the stack and triagem alike.
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/triagem-bench.XXXXXX")
chmod 0755 "$work" # the mail servers' users must reach the stack inside
cleanup() { scripts/mailstack.sh stop "$work/stack" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
scripts/mailstack.sh start "$work/stack"
mkdir -p "$work/tmp"
export TRIAGEM_STACK="$work/stack/stack.env" TRIAGEM_BENCH=1 TMPDIR="$work/tmp"
out=$(go test -count=1 -v -timeout 60m ./bench 2>&1) || { echo "$out" | grep -E -- '--- FAIL|FAIL|_test.go' >&2; exit 1; }
echo "| measure | triagem | ceiling, same run | ratio | target |"
echo "|---|---|---|---|---|"
echo "$out" | grep '^BENCH |' | sed 's/^BENCH //'
# The classify step alone, per core: one Go benchmark, turned into a row.
go test -run XXX -bench 'Classify$' -benchmem ./classify | awk '/^Benchmark/ {
  printf "| classify step alone, one core | %.0f mails/s, %s allocations per mail | | | ≥ 5,000 mails/s |\n", 1e9/$3, $7 }'
# The auditors' queries over a generated log of a million events (docs/AUDIT.md).
go test -run XXX -bench Million -benchtime 20x ./store | awk '/^BenchmarkMillion/ { n++; if ($3 > max) { max = $3; q = $1 } }
  END { sub(/^BenchmarkMillionEventQueries\//, "", q); sub(/-[0-9]+$/, "", q); gsub(/_/, " ", q)
        printf "| audit queries over 1,000,000 events, slowest of %d (the query \"%s\") | %.1f ms | | | < 50 ms |\n", n, q, max / 1e6 }'
echo
echo "$out" | grep '^BENCH note:' | sed 's/^BENCH note: /- /'
