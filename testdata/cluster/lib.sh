# Shared helpers for the loopback cluster scripts (sourced, not run).

# start_bg NAME PIDFILE LOG CMD...: run CMD in the background (in the
# foreground mode of the daemon), record its PID.
start_bg() {
  local name=$1 pidfile=$2 log=$3; shift 3
  if running "$pidfile"; then return 0; fi
  setsid "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
}

# running PIDFILE: the process named in PIDFILE is alive.
running() {
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pid NAME PIDFILE: SIGTERM the PID, wait up to 10 s, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pid i
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster: $name ($pid) did not stop on SIGTERM, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# wait_for DESCRIPTION SECONDS CMD...: retry CMD every 0.1 s.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "cluster: timed out after ${secs}s waiting for $what" >&2
  return 1
}

# port_open PORT: something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
