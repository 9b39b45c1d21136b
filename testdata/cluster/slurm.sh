#!/usr/bin/env bash
# Slurm 22.05 on loopback: a private munged, slurmctld and slurmd (one node,
# partitions debug (default) and long), each owned by PID.
# Usage: slurm.sh up|down STATE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cmd=${1:?usage: slurm.sh up|down STATE}
state=${2:?usage: slurm.sh up|down STATE}
dir=$state/slurm
mdir=$state/munge

case $cmd in
up)
  install -d -m 0755 "$state" "$dir"
  install -d -o munge -g munge -m 0755 "$mdir"
  if [[ ! -f $mdir/munge.key ]]; then
    install -o munge -g munge -m 0400 /etc/munge/munge.key "$mdir/munge.key"
  fi
  start_bg munged "$mdir/munged.pid.bg" "$mdir/munged.out" \
    runuser -u munge -- /usr/sbin/munged -F --socket="$mdir/munge.socket" \
    --key-file="$mdir/munge.key" --log-file="$mdir/munged.log" \
    --pid-file="$mdir/munged.pid" --seed-file="$mdir/munged.seed"
  wait_for "munged socket" 10 test -S "$mdir/munge.socket"

  if running "$dir/slurmctld.pid.bg" && running "$dir/slurmd.pid.bg"; then
    exit 0 # already up: keep its config and jobs
  fi
  mem=$(awk '/MemTotal/ {print int($2/1024) - 1024}' /proc/meminfo)
  ((mem > 16384)) && mem=16384
  # Every start is clean (-c: a stale state from a killed run cannot
  # confuse the controller), and job ids start from the clock, so ids never
  # repeat across cluster restarts: a hub's database from an earlier run
  # cannot mistake a new job for its old one.
  first_id=$(( ($(date +%s) / 10) % 6000000 * 10 + 10 ))
  sed -e "s|@STATE@|$dir|g" -e "s|@MUNGE@|$mdir/munge.socket|g" -e "s|@MEM@|$mem|g" \
    -e "s|@FIRSTJOBID@|$first_id|g" "$here/slurm.conf.in" >"$dir/slurm.conf"
  install -d -m 0755 "$dir/ctld" "$dir/d"
  ctld_flag=-c
  start_bg slurmctld "$dir/slurmctld.pid.bg" "$dir/slurmctld.out" \
    /usr/sbin/slurmctld -D $ctld_flag -f "$dir/slurm.conf"
  wait_for "slurmctld" 20 env SLURM_CONF="$dir/slurm.conf" scontrol ping
  start_bg slurmd "$dir/slurmd.pid.bg" "$dir/slurmd.out" \
    /usr/sbin/slurmd -D -N localhost -f "$dir/slurm.conf"
  wait_for "node localhost idle" 30 bash -c \
    "SLURM_CONF='$dir/slurm.conf' sinfo -h -n localhost -o %t | grep -Eq '^(idle|mix|alloc)'"
  ;;
down)
  if [[ -f $dir/slurm.conf ]] && running "$dir/slurmctld.pid.bg"; then
    # slurmd leaves jobs running when it stops: cancel them first.
    # (scancel's --partition takes one name in 22.05, so by id.)
    ids=$(SLURM_CONF=$dir/slurm.conf squeue -h -o %i 2>/dev/null || true)
    [[ -n $ids ]] && SLURM_CONF=$dir/slurm.conf scancel $ids 2>/dev/null || true
    SLURM_CONF=$dir/slurm.conf timeout 10 bash -c \
      'while [ -n "$(squeue -h -t R,CG -o %i)" ]; do sleep 0.2; done' || true
  fi
  stop_pid slurmd "$dir/slurmd.pid.bg"
  stop_pid slurmctld "$dir/slurmctld.pid.bg"
  stop_pid munged "$mdir/munged.pid.bg"
  ;;
*) echo "usage: slurm.sh up|down STATE" >&2; exit 2 ;;
esac
