#!/usr/bin/env bash
# A private PostgreSQL 15 for the store's tests: its own data directory,
# socket directory and port on 127.0.0.1, trust authentication, fsync off
# (test data is disposable), and a database hpcgate_test. Never touches the
# system cluster (15/main).
# Usage: postgres.sh up STATE PORT   prints the URL as its last line
#        postgres.sh down STATE
set -euo pipefail
usage="usage: postgres.sh up STATE PORT | postgres.sh down STATE"
cmd=${1:?$usage}
state=${2:?$usage}
bin=/usr/lib/postgresql/15/bin
db=hpcgate_test
dir=$state/pg
data=$dir/data

# as_pg CMD...: run CMD as the postgres user, which initdb and postgres
# insist on (they refuse root). cwd is / so the tools do not complain
# about a current directory they cannot read.
as_pg() {
  if [[ $(id -u) == 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

is_running() { [[ -f $data/PG_VERSION ]] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case $cmd in
up)
  port=${3:?$usage}
  [[ $port =~ ^[0-9]+$ ]] || { echo "postgres: bad port '$port'" >&2; exit 2; }
  if [[ ! -x $bin/initdb ]]; then
    [[ $(id -u) == 0 ]] || { echo "postgres: $bin/initdb missing; run as root to install postgresql" >&2; exit 1; }
    echo "postgres: installing postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; then
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi
  fi
  install -d -m 0755 "$state"
  if [[ $(id -u) == 0 ]]; then
    # The postgres user must be able to reach STATE/pg: a t.TempDir() or a
    # mktemp -d is 0700 root, so open the path for traversal (x only).
    d=$state
    while [[ $d != / ]]; do
      runuser -u postgres -- test -x "$d" 2>/dev/null || chmod o+x "$d"
      d=$(dirname "$d")
    done
    install -d -m 0700 -o postgres -g postgres "$dir"
  else
    install -d -m 0700 "$dir"
  fi
  if is_running; then
    # Already up: make sure it is the port we were asked for, not a
    # leftover from another run on another port.
    have=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
    if [[ $have != "$port" ]]; then
      echo "postgres: already running in $data on port $have, not $port; run 'postgres.sh down $state' first" >&2
      exit 1
    fi
  else
    if [[ ! -f $data/PG_VERSION ]]; then
      rm -rf "$data"
      as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_pg "$bin/pg_ctl" -D "$data" -l "$dir/pg.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      echo "postgres: failed to start on 127.0.0.1:$port; the end of $dir/pg.log:" >&2
      tail -n 20 "$dir/pg.log" >&2
      exit 1
    fi
  fi
  psql=(as_pg "$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres)
  if [[ $("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") != 1 ]]; then
    "${psql[@]}" -c "CREATE DATABASE $db" >/dev/null
  fi
  echo "postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"
  ;;
down)
  [[ -f $data/PG_VERSION ]] || exit 0
  # pg_ctl finds the postmaster through DATA/postmaster.pid and waits for it.
  if is_running; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
  fi
  ;;
*) echo "$usage" >&2; exit 2 ;;
esac
