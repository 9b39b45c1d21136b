#!/usr/bin/env bash
# Stops the stand-in's pbs_server for STATE/pbs by PID: SIGTERM (it kills
# and requeues running jobs), then SIGKILL if it is still there after 30 s.
# Harmless when it is not running. Usage: stop.sh STATE
set -uo pipefail
state=${1:?usage: stop.sh STATE}
[[ -d $state/pbs ]] || exit 0
home=$(cd "$state" && pwd)/pbs
pidfile=$home/pbs_server.pid
pid=$(cat "$pidfile" 2>/dev/null || cat "$home/server_priv/server.pid" 2>/dev/null || true)
if [[ -n $pid ]] && grep -q pbs_server "/proc/$pid/cmdline" 2>/dev/null; then
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    grep -q pbs_server "/proc/$pid/cmdline" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q pbs_server "/proc/$pid/cmdline" 2>/dev/null; then
    echo "pbs: pbs_server ($pid) did not stop on SIGTERM, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile"
exit 0
