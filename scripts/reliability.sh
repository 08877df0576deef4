#!/usr/bin/env bash
# reliability.sh — the reliability and security suite of docs/RELIABILITY.md, with its long
# variants: the SIGKILL soak (1,000 mails, 20 kills) and a fuzzing pass over every target.
#
#   scripts/reliability.sh            fault, hostile-input and security tests, the soak, fuzz 30 s each
#   FUZZTIME=5m scripts/reliability.sh
#
# The same tests, in their short forms, run in every `.ci/run` (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}

stack=$(mktemp -d /tmp/triagem-stack.XXXXXX)
cleanup() { scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true; rm -rf "$stack"; }
trap cleanup EXIT
scripts/mailstack.sh start "$stack"
export TRIAGEM_STACK="$stack/stack.env"

echo "== fault injection, hostile input and security (in-process)"
TRIAGEM_SOAK=1 go test -count=1 -v -timeout 30m ./daemon -run 'Blackhole|SMTPDrop|TwoInstances|UIDValidity|LongSMTP|Hostile|Secrets|Canary|Attacks|Temporary|SameMessageID|SameMail|MoveFallbacks|Real' 2>&1 | grep -E '^(---|ok|FAIL)|_test.go'
go test -count=1 ./parse ./llm ./web ./screen

echo "== real Dovecot + Postfix, with the SIGKILL soak"
TRIAGEM_SOAK=1 go test -count=1 -v -timeout 30m ./e2e 2>&1 | grep -E '^(---|ok|FAIL)|_test.go'

echo "== fuzzing, $fuzztime per target"
for t in "./parse FuzzParse" "./parse FuzzSplit" "./identify FuzzFindNIF" "./approve FuzzToken" "./config FuzzParse"; do
  set -- $t
  go test "$1" -run XXX -fuzz "^$2\$" -fuzztime "$fuzztime" 2>&1 | tail -1
done
