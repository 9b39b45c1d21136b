#!/usr/bin/env bash
# The centre's directory: a private OpenLDAP slapd on ldap://127.0.0.1:3389
# (StartTLS) and ldaps://127.0.0.1:3636, with a self-signed CA, base
# dc=example,dc=org, the test users and groups, and a service bind account.
# Usage: ldap.sh up|down STATE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cmd=${1:?usage: ldap.sh up|down STATE}
state=${2:?usage: ldap.sh up|down STATE}
dir=$state/ldap

case $cmd in
up)
  install -d -m 0755 "$dir"
  if [[ ! -f $dir/ca.pem ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=hpcgate test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
      -keyout "$dir/key.pem" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:%s\n' "$(hostname)" >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 3650 -extfile "$dir/san.ext" -out "$dir/cert.pem" 2>/dev/null
    chmod 0600 "$dir/ca.key" "$dir/key.pem"
  fi
  if [[ ! -f $dir/bind_password ]]; then
    (umask 077 && openssl rand -hex 16 >"$dir/bind_password")
  fi
  running "$dir/slapd.pid.bg" && exit 0
  rm -rf "$dir/db" && install -d -m 0700 "$dir/db"
  sed -e "s|@DIR@|$dir|g" -e "s|@ROOTPW@|$(slappasswd -s admin-pass)|" \
    "$here/slapd.conf.in" >"$dir/slapd.conf"
  slaptest -Q -u -f "$dir/slapd.conf"
  start_bg slapd "$dir/slapd.pid.bg" "$dir/slapd.out" /usr/sbin/slapd -d 0 -f "$dir/slapd.conf" \
    -h "ldap://127.0.0.1:3389/ ldaps://127.0.0.1:3636/"
  wait_for "slapd on 3389" 10 port_open 3389
  # ldapadd (not slapadd) so the memberOf overlay fills in group membership.
  sed -e "s|@SVCPW@|$(slappasswd -s "$(cat "$dir/bind_password")")|" \
    -e "s|@ALICE@|$(slappasswd -s alice-pass)|" -e "s|@BOB@|$(slappasswd -s bob-pass)|" \
    -e "s|@CAROL@|$(slappasswd -s carol-pass)|" -e "s|@DAVE@|$(slappasswd -s dave-pass)|" \
    "$here/ldap-data.ldif.in" |
    ldapadd -x -H ldap://127.0.0.1:3389 -D cn=admin,dc=example,dc=org -w admin-pass >/dev/null
  ;;
down)
  stop_pid slapd "$dir/slapd.pid.bg"
  ;;
*) echo "usage: ldap.sh up|down STATE" >&2; exit 2 ;;
esac
