#!/usr/bin/env bash
# mailstack.sh — a private Dovecot (IMAP) + Postfix (SMTP) on 127.0.0.1 for triagem's tests.
#
#   scripts/mailstack.sh install          install Debian's packages if missing (needs root)
#   scripts/mailstack.sh start DIR        configure and start both servers under DIR
#   scripts/mailstack.sh stop DIR         stop the servers started under DIR
#
# Everything the servers write (config, queue, mail, logs) stays under DIR; no system
# daemon is started or reconfigured. Any address @example.test is a mailbox (static
# passdb, password "test"); Postfix refuses every other domain at RCPT, so nothing a
# test does can leave this machine. After `start`, DIR/stack.env holds the addresses
# that the Go tests read (TRIAGEM_STACK=DIR/stack.env).
set -euo pipefail

IMAP_PORT=${MAILSTACK_IMAP_PORT:-10143}
SMTP_PORT=${MAILSTACK_SMTP_PORT:-10025}
DOMAIN=example.test
PASSWORD=test

die() { echo "mailstack: $*" >&2; exit 1; }

install_packages() {
  if command -v dovecot >/dev/null && [ -x /usr/sbin/postfix ] && [ -x /usr/lib/dovecot/lmtp ]; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "installing dovecot and postfix needs root: run 'sudo $0 install'"
  # Keep the packages from starting (or enabling) system daemons while they install.
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends dovecot-imapd dovecot-lmtpd postfix >/tmp/mailstack-apt.log 2>&1; then
    apt-get update -qq >>/tmp/mailstack-apt.log 2>&1 || true
    apt-get install -y -qq --no-install-recommends dovecot-imapd dovecot-lmtpd postfix >>/tmp/mailstack-apt.log 2>&1 \
      || { [ $had_policy = 0 ] && rm -f /usr/sbin/policy-rc.d; tail -20 /tmp/mailstack-apt.log >&2; die "apt-get install failed (log above)"; }
  fi
  [ $had_policy = 0 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

write_dovecot_conf() {
  local dir=$1
  mkdir -p "$dir/dovecot" "$dir/run/dovecot" "$dir/mail" "$dir/log" "$dir/state"
  chown mail:mail "$dir/mail"
  local mail_uid; mail_uid=$(id -u mail)
  cat >"$dir/dovecot/dovecot.conf" <<EOF
# Written by scripts/mailstack.sh for tests; not a production configuration.
base_dir = $dir/run/dovecot
state_dir = $dir/state
protocols = imap lmtp
# 127.0.0.2 is the same server with MOVE and UIDPLUS hidden, 127.0.0.3 with MOVE hidden:
# for the tests of the move fallbacks.
listen = 127.0.0.1, 127.0.0.2, 127.0.0.3
# Plus-addressing: suporte+TOKEN@ is delivered to suporte@ (the reply address of drafts).
recipient_delimiter = +
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $dir/log/dovecot.log
info_log_path = $dir/log/dovecot.log
first_valid_uid = $mail_uid
mail_location = maildir:$dir/mail/%d/%n
mail_privileged_group = mail
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = static
  args = password=$PASSWORD
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/mail/%d/%n
}
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1, 127.0.0.2, 127.0.0.3
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol imap {
  mail_max_userip_connections = 1000
  # tests may hide capabilities: MAILSTACK_IMAP_CAPABILITY overrides the list
  ${MAILSTACK_IMAP_CAPABILITY:+imap_capability = $MAILSTACK_IMAP_CAPABILITY}
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
local 127.0.0.2 {
  protocol imap {
    imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ NAMESPACE CHILDREN ESEARCH
  }
}
local 127.0.0.3 {
  protocol imap {
    imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ NAMESPACE CHILDREN ESEARCH UIDPLUS
  }
}
EOF
}

write_postfix_conf() {
  local dir=$1
  mkdir -p "$dir/postfix" "$dir/postfix-queue" "$dir/postfix-data"
  chown postfix "$dir/postfix-data"
  cat >"$dir/postfix/main.cf" <<EOF
# Written by scripts/mailstack.sh for tests; not a production configuration.
compatibility_level = 3.6
queue_directory = $dir/postfix-queue
data_directory = $dir/postfix-data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
biff = no
smtputf8_enable = yes
message_size_limit = 104857600
recipient_delimiter = +
virtual_mailbox_domains = $DOMAIN
virtual_transport = lmtp:unix:$dir/run/dovecot/lmtp
default_transport = error:mailstack delivers only to $DOMAIN
relay_transport = error:mailstack delivers only to $DOMAIN
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access texthash:$dir/postfix/recipient_access, permit
maillog_file = $dir/log/postfix.log
maillog_file_prefixes = $dir/log
lmtp_destination_concurrency_limit = 8
EOF
  # A recipient that always fails permanently, for tests of parked mail.
  printf 'bounce-me@%s REJECT 5.1.1 mailbox unavailable (mailstack test address)\n' "$DOMAIN" >"$dir/postfix/recipient_access"
  sed -E "s/^smtp[[:space:]]+inet[[:space:]].*/127.0.0.1:$SMTP_PORT inet n - n - - smtpd/" \
      /usr/share/postfix/master.cf.dist >"$dir/postfix/master.cf"
  postconf -c "$dir/postfix" -F '*/*/chroot = n' >/dev/null
}

wait_port() {
  local port=$1 i
  for i in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start() {
  local dir=$1
  install_packages
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd); chmod 0755 "$dir"
  stop "$dir" >/dev/null 2>&1 || true
  write_dovecot_conf "$dir"
  write_postfix_conf "$dir"
  # Daemons must not inherit the caller's stdout/stderr, or a pipe reading them never closes.
  dovecot -c "$dir/dovecot/dovecot.conf" </dev/null >"$dir/log/dovecot-start.log" 2>&1 \
    || { cat "$dir/log/dovecot-start.log" >&2; die "dovecot did not start"; }
  if ! script -qec "postfix -c $dir/postfix check" /dev/null </dev/null >"$dir/log/postfix-check.log" 2>&1; then
    cat "$dir/log/postfix-check.log" >&2; die "postfix check failed (above)"
  fi
  postfix -c "$dir/postfix" start </dev/null >"$dir/log/postfix-start.log" 2>&1 \
    || { cat "$dir/log/postfix-start.log" "$dir/log/postfix.log" >&2 2>/dev/null; die "postfix did not start"; }
  wait_port "$IMAP_PORT" || { tail -20 "$dir/log/dovecot.log" >&2; die "dovecot is not listening on 127.0.0.1:$IMAP_PORT"; }
  wait_port "$SMTP_PORT" || { tail -20 "$dir/log/postfix.log" >&2; die "postfix is not listening on 127.0.0.1:$SMTP_PORT"; }
  cat >"$dir/stack.env" <<EOF
IMAP_ADDR=127.0.0.1:$IMAP_PORT
SMTP_ADDR=127.0.0.1:$SMTP_PORT
DOMAIN=$DOMAIN
PASSWORD=$PASSWORD
DIR=$dir
EOF
  echo "mailstack: dovecot on 127.0.0.1:$IMAP_PORT, postfix on 127.0.0.1:$SMTP_PORT, state in $dir"
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/postfix/main.cf" ] && postfix -c "$dir/postfix" stop </dev/null >/dev/null 2>&1 || true
  if [ -f "$dir/run/dovecot/master.pid" ]; then
    kill "$(cat "$dir/run/dovecot/master.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$dir/run/dovecot/master.pid" ] || break; sleep 0.1; done
  fi
  return 0
}

case "${1:-}" in
  install) install_packages ;;
  start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) [ -n "${2:-}" ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
