#!/usr/bin/env bash
# Re-records the Slurm outputs in this directory from the loopback cluster's
# real Slurm (testdata/cluster): for each case NAME it writes NAME.cmd (the
# argv, one argument per line), NAME.out, NAME.err and NAME.rc. The parser
# tests in batch/slurm read them; they check that the squeue formats in
# NAME.cmd are the ones the adapter sends, so keep FIELDS in step with
# batch/slurm/format.go.
#
# It submits jobs as alice and bob, waits about two minutes for one to reach
# its time limit, and cancels everything it submitted on exit. It briefly
# holds all 16 CPUs of the node (two -c 16 jobs) so others wait on Resources
# and Priority.
#
# Usage (as root, cluster up): testdata/slurm/record.sh [SLURM_CONF]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conf=${1:-${SLURM_CONF:-/tmp/hpcgate-cluster/slurm/slurm.conf}}
[[ -f $conf ]] || { echo "record: no slurm.conf at $conf (make cluster-up)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "record: run as root (it runs commands as alice and bob)" >&2; exit 1; }
out=$here
export SLURM_CONF=$conf # for the root-only scontrol suspend/resume
US=$'\x1f' RS=$'\x1e'

# The adapter's squeue -O format (batch/slurm/format.go): Slurm's own fields
# first, unpadded, after each the unit separator; then the free text (Name,
# Reason) with a nonce on every separator around it, so a job name cannot
# end its record. The adapter draws a nonce per query; the recording uses
# one per run, and the tests read it back from the .cmd files.
FIELDS=(JobID UserName State Partition BatchHost exit_code SubmitTime StartTime EndTime TimeLimit NumCPUs)
nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
fmt=
for f in "${FIELDS[@]}"; do fmt+="$f:$US,"; done
fmt="${fmt%,}$nonce,Name:$US$nonce,Reason:$RS$nonce"
# The layout hpcgate used before: every field followed by US, the record
# ended by RS, no nonce. Kept to show what the hostile names do to it.
old_fmt="JobID:$US,Name:$US,UserName:$US,State:$US,Reason:$US,Partition:$US,BatchHost:$US,exit_code:$US,SubmitTime:$US,StartTime:$US,EndTime:$US,TimeLimit:$US,NumCPUs:$RS"
start_fmt="%i$US%S$RS"

# Ids of every job submitted, in a file: sub runs in command substitutions.
ids_file=$(mktemp)
cleanup() {
  local ids
  ids=$(cat "$ids_file" 2>/dev/null || true)
  if [[ -n $ids ]]; then
    scontrol resume $ids >/dev/null 2>&1 || true
    scancel $ids 2>/dev/null || true
  fi
  if [[ -f ${tmp_files:-} ]]; then xargs -r rm -f <"$tmp_files"; rm -f "$tmp_files"; fi
  rm -rf "${fake:-}" "$ids_file"
}
trap cleanup EXIT

# as USER ARGV...: run as USER in their home with a clean environment, the
# way a command arrives over ssh.
as() {
  local u=$1; shift
  (cd "/home/$u" && runuser -u "$u" -- env -i HOME="/home/$u" USER="$u" LOGNAME="$u" \
    PATH=/usr/bin:/bin TZ=UTC SLURM_CONF="$conf" "$@")
}
# rec NAME USER ARGV...: record one command (stdin from $STDIN if set).
rec() {
  local name=$1 user=$2; shift 2
  printf '%s\n' "$@" >"$out/$name.cmd"
  rm -f "$out/$name.in"
  [[ -n ${STDIN:-} ]] && cp "$STDIN" "$out/$name.in"
  local rc=0
  as "$user" "$@" <"${STDIN:-/dev/null}" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
  echo "$rc" >"$out/$name.rc"
  echo "record: $name rc=$rc" >&2
}
# sub USER ARGV...: submit, remember the id for cleanup, print it. Job
# output goes nowhere, so nothing is left in the users' homes.
sub() {
  local u=$1 id; shift
  id=$(as "$u" sbatch --parsable --output=/dev/null "$@")
  echo "${id%%;*}" >>"$ids_file"
  echo "${id%%;*}"
}
# state ID: the job's long state now.
state() { as alice squeue -h -t all -j "$1" -o %T 2>/dev/null || true; }
wait_state() { # ID STATE SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    [[ $(state "$1") == "$2" ]] && return 0
    sleep 0.2
  done
  echo "record: job $1 did not reach $2 in $3 s (is $(state "$1"))" >&2
  return 1
}
# mkscript [DIRECTIVE...]: a job script with these #SBATCH lines, the way the
# adapter passes every option (on stdin), printed as a file name.
mkscript() {
  local f d
  f=$(mktemp)
  { echo '#!/bin/bash'; for d in "$@" --output=/dev/null; do echo "#SBATCH $d"; done; echo true; } >"$f"
  chmod 0644 "$f"
  echo "$f" >>"$tmp_files"
  echo "$f"
}
tmp_files=$(mktemp)

rec version alice sbatch --version

# --- sbatch (argv exactly as batch/slurm's Submit sends it) ---------------
# Submit first creates the run directory (Slurm opens the log before the
# script runs).
rec mkdir-rundir alice mkdir -p -m 0700 -- .hpcgate
STDIN=$(mkscript --job-name=hpcgate-rec-ok) rec sbatch-ok alice sbatch --parsable
cat "$out/sbatch-ok.out" >>"$ids_file"
STDIN=$(mkscript --job-name=hpcgate-rec-held) rec sbatch-hold alice sbatch --parsable --hold
cat "$out/sbatch-hold.out" >>"$ids_file"
STDIN=$(mkscript --partition=nosuch) rec sbatch-invalid-partition alice sbatch --parsable
STDIN=$(mkscript --time=notatime) rec sbatch-invalid-time alice sbatch --parsable
STDIN=$(mkscript --nosuchoption) rec sbatch-bad-option alice sbatch --parsable
STDIN=$(mkscript --mem=999999G) rec sbatch-mem-unavailable alice sbatch --parsable
# Without slurmdbd there are no associations: an unknown account is accepted.
STDIN=$(mkscript --account=nosuch) rec sbatch-unknown-account alice sbatch --parsable
cat "$out/sbatch-unknown-account.out" >>"$ids_file"
STDIN=/dev/null rec sbatch-empty-script alice sbatch --parsable

# --- jobs that end --------------------------------------------------------
timeout_id=$(sub alice --time=1 --job-name=hpcgate-rec-timeout --wrap 'sleep 600')
completed=$(sub alice --job-name=hpcgate-rec-completed --wrap true)
failed=$(sub alice --job-name=hpcgate-rec-failed --wrap 'exit 3')
killed=$(sub alice --job-name=hpcgate-rec-killed --wrap 'kill -9 $$')
deadline=$(sub alice --time=1 --begin=now+30 --deadline=now+70 --job-name=hpcgate-rec-deadline --wrap true)
cancelled_pending=$(sub alice --hold --job-name=hpcgate-rec-cancelled-pending --wrap true)
cancelled_running=$(sub alice --job-name=hpcgate-rec-cancelled-running --wrap 'sleep 600')
wait_state "$cancelled_running" RUNNING 20
as alice scancel "$cancelled_pending" "$cancelled_running"
wait_state "$cancelled_running" CANCELLED 20
rec scancel-finished alice scancel "$completed"
rec scancel-unknown alice scancel 999999
rec scontrol-release-finished alice scontrol release "$completed"
rec scontrol-release-unknown alice scontrol release 999999

# --- jobs that stay -------------------------------------------------------
running=$(sub alice --job-name=hpcgate-rec-running --wrap 'sleep 600')
suspended=$(sub alice --job-name=hpcgate-rec-suspended --wrap 'sleep 600')
held=$(sub alice --hold --job-name=hpcgate-rec-held --wrap true)
begin=$(sub alice --begin=now+1hour --job-name=hpcgate-rec-begin --wrap true)
ptl=$(sub alice --partition=debug --time=10:00:00 --job-name=hpcgate-rec-partition-time-limit --wrap true)
long=$(sub bob --partition=long --hold --cpus-per-task=2 --time=2-00:00:00 --job-name=hpcgate-rec-bob-long --wrap true)
# A job that ignores SIGTERM stays COMPLETING for KillWait (5 s) after scancel.
completing=$(sub alice --job-name=hpcgate-rec-completing --wrap 'trap "" TERM; sleep 600')
wait_state "$running" RUNNING 20
wait_state "$suspended" RUNNING 20
wait_state "$completing" RUNNING 20
scontrol suspend "$suspended"
resources=$(sub alice --cpus-per-task=16 --time=10 --job-name=hpcgate-rec-resources --wrap 'sleep 600')
priority=$(sub alice --cpus-per-task=16 --time=10 --job-name=hpcgate-rec-priority --wrap 'sleep 600')
sleep 3 # the scheduler's pass assigns Resources and Priority
as alice scancel "$completing"
wait_state "$completing" COMPLETING 5

# --- hostile job names ---------------------------------------------------
# Any cluster user can name a job anything up to 1024 bytes (sbatch -J,
# scontrol update JobName=), and squeue prints it byte for byte. bob names
# held jobs with control characters, quotes and 300+ bytes, and with fake
# records claiming alice's held job (the victim) was CANCELLED: one in the
# old layout, one in the new layout with a guessed nonce.
victim=$(sub alice --hold --job-name=hpcgate-rec-victim --wrap true)
A300=$(printf 'A%.0s' $(seq 1 300))
t0=2024-01-01T00:00:00
h_ctl=$(sub bob --hold --job-name="hpcgate-rec-hostile-ctl$RS$US"$'\n\t"\'<b>&'"$A300" --wrap true)
forge_old="x$RS"$'\n'"$victim${US}hpcgate-rec-victim${US}alice${US}CANCELLED${US}None${US}debug${US}n/a${US}0${US}$t0${US}$t0${US}$t0${US}1:00:00${US}1$RS"$'\n'
h_old=$(sub bob --hold --job-name="$forge_old" --wrap true)
guess=0123456789abcdef
forge_new="y$US$guess${RS}$guess"$'\n'"$victim${US}alice${US}CANCELLED${US}debug${US}n/a${US}0${US}$t0${US}$t0${US}$t0${US}1:00:00${US}1$US${guess}hpcgate-rec-victim$US${guess}None$RS$guess"$'\n'
h_new=$(sub bob --hold --job-name="$forge_new" --wrap true)
# The longest name Slurm takes, set after submission the other way.
h_long=$(sub bob --hold --job-name=hpcgate-rec-hostile-long --wrap true)
as bob scontrol update JobId="$h_long" JobName="$(printf 'L%.0s' $(seq 1 1000))$RS$US"$'\n'
hostile="$victim,$h_ctl,$h_old,$h_new,$h_long"

all=$(IFS=,; echo "$timeout_id,$completed,$failed,$killed,$deadline,$cancelled_pending,$cancelled_running,$running,$suspended,$held,$begin,$ptl,$long,$resources,$priority,$completing")
# The adapter's queries run as the hub's service account (hpcgate), the
# list as the user.
status() { rec "$1" hpcgate squeue --all --noheader --states=all --jobs="$2" --Format="$fmt"; }
status squeue-status-mixed "$all"
rec squeue-start hpcgate squeue --all --start --noheader --jobs="$all" --format="$start_fmt"
rec squeue-start-default alice squeue --start --jobs="$all"
rec squeue-queue hpcgate squeue --all --noheader --Format="$fmt"
rec squeue-all-states hpcgate squeue --all --noheader --states=all --Format="$fmt"
rec squeue-json hpcgate squeue --json
rec squeue-list-user alice squeue --all --noheader --states=all --user=alice --Format="$fmt"
status squeue-status-pending "$held"
status squeue-status-hostile "$hostile"
rec squeue-status-hostile-old hpcgate squeue --all --noheader --states=all --jobs="$hostile" --Format="$old_fmt"
as bob scancel "$h_ctl" "$h_old" "$h_new" "$h_long"
as alice scancel "$victim"
status squeue-status-running "$running"
status squeue-status-unknown 999999
status squeue-status-unknown-many 999999,999998
status squeue-status-live-and-unknown "$held,999999,$running"
rec squeue-start-unknown hpcgate squeue --all --start --noheader --jobs=999999 --format="$start_fmt"
rec squeue-status-default-states alice squeue -h -j "$completed" -O "$fmt"
rec scancel-other-user bob scancel "$held"
rec scontrol-release-other-user bob scontrol release "$held"
rec scontrol-release-ok alice scontrol release "$held"
rec scontrol-release-not-held alice scontrol release "$running"
scontrol resume "$suspended"

# TIMEOUT: time limits are enforced about every 30 s, so a -t 1 job ends
# between 60 and 100 s after it started.
wait_state "$timeout_id" TIMEOUT 150
status squeue-status-timeout "$timeout_id,$deadline"

# --- controller down ------------------------------------------------------
# A copy of slurm.conf whose controller port nobody listens on: the commands
# fail the way they do when slurmctld is down, without touching the real one.
fake=$(mktemp -d)
port=16899
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "record: port $port is in use, cannot fake a down controller" >&2; exit 1
fi
sed "s/^SlurmctldPort=.*/SlurmctldPort=$port/" "$conf" >"$fake/slurm.conf"
chmod 0755 "$fake"; chmod 0644 "$fake/slurm.conf"
conf_real=$conf conf=$fake/slurm.conf
status squeue-controller-down "$running"
STDIN=$(mkscript --job-name=hpcgate-rec-down) rec sbatch-controller-down alice sbatch --parsable
conf=$conf_real

# Trim the JSON dump to a few jobs of this run so it stays readable.
python3 - "$out/squeue-json.out" "$held,$running,$failed,$cancelled_running,$long" <<'PY'
import json, sys
path, ids = sys.argv[1], {int(i) for i in sys.argv[2].split(",") if i}
doc = json.load(open(path))
doc["jobs"] = [j for j in doc["jobs"] if j["job_id"] in ids]
json.dump(doc, open(path, "w"), indent=2)
open(path, "a").write("\n")
PY
echo "record: done; cancelling job ids $(paste -sd' ' "$ids_file")" >&2
