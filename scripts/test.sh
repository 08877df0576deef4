#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it: unit tests, in-process integration tests,
# and the end-to-end tests against a real Dovecot + Postfix on 127.0.0.1.
#
#   scripts/test.sh            everything (installs Debian's dovecot, postfix and chromium
#                              if missing: root)
#   scripts/test.sh -short     unit and in-process tests only; no real servers
#
# The real-stack tests read TRIAGEM_STACK (written by scripts/mailstack.sh). Under CI=true
# they fail instead of skipping when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

short=0
[ "${1:-}" = "-short" ] && short=1

echo "== go vet"
go vet ./...

if [ $short = 1 ]; then
  echo "== go test -short (no real mail servers)"
  exec go test -race -short -count=1 ./...
fi

# The auditors' page is tested in a real headless Chromium, from Debian's package.
if ! command -v chromium >/dev/null; then
  echo "== installing Debian's chromium (for the auditors' page test)"
  if ! { apt-get install -y -qq --no-install-recommends chromium >/tmp/triagem-chromium-apt.log 2>&1 ||
         { apt-get update -qq >>/tmp/triagem-chromium-apt.log 2>&1 &&
           apt-get install -y -qq --no-install-recommends chromium >>/tmp/triagem-chromium-apt.log 2>&1; }; }; then
    echo "could not install chromium; see /tmp/triagem-chromium-apt.log" >&2
    exit 1
  fi
fi

stack=$(mktemp -d /tmp/triagem-stack.XXXXXX)
cleanup() { scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true; rm -rf "$stack"; }
trap cleanup EXIT
echo "== starting Dovecot + Postfix on 127.0.0.1 (state in $stack)"
scripts/mailstack.sh start "$stack"
export TRIAGEM_STACK="$stack/stack.env"

echo "== go test -race (unit, in-process and real-stack tests)"
go test -race -count=1 -timeout 20m ./...

# The load harness (docs/PERFORMANCE.md) at a tiny size: a smoke test that it still runs
# end to end. Its timings are printed, never asserted.
echo "== load harness smoke test (scripts/bench.sh measures; this only shows it works)"
TRIAGEM_BENCH=1 BENCH_N=20 go test -count=1 -timeout 10m -v -run 'TestBacklog|TestPushLatency|TestPeakRSS' ./bench |
  grep -E '^(BENCH|--- |ok|FAIL)'
