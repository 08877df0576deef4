#!/usr/bin/env bash
# bench.sh — the load harness (docs/PERFORMANCE.md): triagem against real Dovecot and
# Postfix on loopback, each figure next to the stack's own ceiling from the same run.
#
#   scripts/bench.sh              a backlog of 5,000 mails, and push latency over 50
#   BENCH_N=500 scripts/bench.sh  a smaller backlog
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_N=${BENCH_N:-5000}
stack=$(mktemp -d /tmp/triagem-stack.XXXXXX)
cleanup() { scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true; rm -rf "$stack"; }
trap cleanup EXIT
scripts/mailstack.sh start "$stack"
export TRIAGEM_STACK="$stack/stack.env" TRIAGEM_BENCH=1
go test -count=1 -v -timeout 60m ./bench 2>&1 | grep -E '^(BENCH|--- FAIL|FAIL)' | sed 's/^BENCH //'
echo "classify step alone:"
go test -run XXX -bench Classify -benchmem ./classify | grep Benchmark
