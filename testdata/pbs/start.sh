#!/usr/bin/env bash
# Starts the stand-in's pbs_server (server and MoM) in the background for
# STATE/pbs, recording its PID in STATE/pbs/pbs_server.pid. Harmless when it
# already runs. Usage: start.sh STATE
set -euo pipefail
state=${1:?usage: start.sh STATE}
home=$(cd "$state" && pwd)/pbs
pidfile=$home/pbs_server.pid
[[ -x $home/bin/pbs_server ]] || { echo "pbs: not installed in $home (run install.sh)" >&2; exit 1; }

is_server() { # PID: that process is a pbs_server
  [[ -n $1 ]] && grep -q pbs_server "/proc/$1/cmdline" 2>/dev/null
}
if [[ -s $pidfile ]] && is_server "$(cat "$pidfile")"; then
  exit 0
fi
PBS_CONF_FILE=$home/pbs.conf setsid "$home/bin/pbs_server" </dev/null >>"$home/pbs_server.log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"
# Ready once the daemon has published its own pid file (after recovery).
for ((i = 0; i < 100; i++)); do
  if [[ $(cat "$home/server_priv/server.pid" 2>/dev/null) == "$pid" ]]; then
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "pbs: pbs_server exited; see $home/pbs_server.log" >&2
    tail -n 5 "$home/pbs_server.log" >&2 || true
    rm -f "$pidfile"
    exit 1
  fi
  sleep 0.1
done
echo "pbs: pbs_server ($pid) not ready after 10s; see $home/pbs_server.log" >&2
exit 1
