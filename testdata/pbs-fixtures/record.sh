#!/usr/bin/env bash
# Re-records the PBS outputs in this directory from the loopback cluster's
# PBS: the OpenPBS stand-in of testdata/pbs (OpenPBS is not packaged for
# Debian), NOT a real PBS server. For each case NAME it writes NAME.cmd (the
# argv, one argument per line), NAME.in (stdin, if any), NAME.out, NAME.err
# and NAME.rc. The parser tests in batch/pbs read them and check that the
# argv is the one the adapter sends. Real PBS samples are the
# *-upstream-sample.* files, which this script does not touch.
#
# It submits jobs as alice and bob, waits about half a minute for one to
# pass its walltime, and deletes everything it submitted on exit.
#
# Usage (as root, cluster up): testdata/pbs-fixtures/record.sh [PBS_BIN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-/tmp/hpcgate-cluster/pbs/bin}
[[ -x $bin/qsub ]] || { echo "record: no PBS commands in $bin (make cluster-up)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "record: run as root (it runs commands as alice and bob)" >&2; exit 1; }
out=$here

ids_file=$(mktemp)
tmp_files=$(mktemp)
cleanup() {
  local ids
  ids=$(cat "$ids_file" 2>/dev/null || true)
  [[ -z $ids ]] || "$bin/qdel" $ids 2>/dev/null || true
  xargs -r rm -f <"$tmp_files"
  rm -rf "$ids_file" "$tmp_files" "${fake:-}"
}
trap cleanup EXIT

# as USER ARGV...: run as USER in their home with a clean environment, the
# way a command arrives over ssh.
as() {
  local u=$1; shift
  (cd "/home/$u" && runuser -u "$u" -- env -i HOME="/home/$u" USER="$u" LOGNAME="$u" \
    PATH=/usr/bin:/bin TZ=UTC ${PBS_CONF_FILE:+PBS_CONF_FILE=$PBS_CONF_FILE} "$@")
}
# rec NAME USER ARGV...: record one command (stdin from $STDIN if set). The
# argv is recorded with the PBS bin directory stripped, as the adapter's
# tests build it with BinDir "".
rec() {
  local name=$1 user=$2; shift 2
  printf '%s\n' "${1##*/}" "${@:2}" >"$out/$name.cmd"
  rm -f "$out/$name.in"
  [[ -n ${STDIN:-} ]] && cp "$STDIN" "$out/$name.in"
  local rc=0
  as "$user" "$@" <"${STDIN:-/dev/null}" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
  echo "$rc" >"$out/$name.rc"
  echo "record: $name rc=$rc" >&2
}
# mkscript [DIRECTIVE...] -- BODY: a job script with these #PBS lines, the
# way the adapter passes every option (on stdin), printed as a file name.
mkscript() {
  local f d
  f=$(mktemp)
  echo "$f" >>"$tmp_files"
  {
    echo '#!/bin/bash'
    # Job output goes nowhere, so nothing is left in the users' homes.
    echo '#PBS -j oe'
    echo '#PBS -o /dev/null'
    while (($#)) && [[ $1 != -- ]]; do echo "#PBS $1"; shift; done
    shift
    echo "${1:-true}"
  } >"$f"
  chmod 0644 "$f"
  echo "$f"
}
# sub USER [qsub options] [DIRECTIVE...] -- BODY: submit, remember the id.
sub() {
  local u=$1 id opts=(); shift
  while [[ $1 == -h ]]; do opts+=("$1"); shift; done
  id=$(as "$u" "$bin/qsub" "${opts[@]}" <"$(mkscript "$@")")
  echo "$id" >>"$ids_file"
  echo "$id"
}
state() { as alice "$bin/qstat" -f -F json -x "$1" 2>/dev/null | python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin).get("Jobs",{}).values()),{}).get("job_state",""))' || true; }
wait_state() { # ID STATE SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    [[ $(state "$1") == "$2" ]] && return 0
    sleep 0.2
  done
  echo "record: job $1 did not reach $2 in $3 s (is $(state "$1"))" >&2
  return 1
}

rec version alice "$bin/qstat" --version

# --- qsub (argv exactly as batch/pbs's Submit sends it) -------------------
rec mkdir-rundir alice mkdir -p -m 0700 -- .hpcgate
STDIN=$(mkscript "-N hpcgate-rec-ok" -- true) rec qsub-ok alice "$bin/qsub"
cat "$out/qsub-ok.out" >>"$ids_file"
STDIN=$(mkscript "-N hpcgate-rec-hold" -- true) rec qsub-hold alice "$bin/qsub" -h
cat "$out/qsub-hold.out" >>"$ids_file"
STDIN=$(mkscript "-q nosuch" -- true) rec qsub-unknown-queue alice "$bin/qsub"
STDIN=$(mkscript "-q closed" -- true) rec qsub-queue-disabled alice "$bin/qsub"
STDIN=$(mkscript "-l select=1:ncpus=100" -- true) rec qsub-too-many-cpus alice "$bin/qsub"
STDIN=$(mkscript "-l walltime=100:00:00" -- true) rec qsub-walltime-over-limit alice "$bin/qsub"
STDIN=$(mkscript "-l walltime=notatime" -- true) rec qsub-bad-walltime alice "$bin/qsub"
STDIN=$(mkscript "--nosuchoption" -- true) rec qsub-bad-option alice "$bin/qsub"
# Held, so it never runs and leaves no output files.
STDIN=/dev/null rec qsub-empty-script alice "$bin/qsub" -h
cat "$out/qsub-empty-script.out" >>"$ids_file"

# --- jobs that end --------------------------------------------------------
walltime=$(sub alice "-N hpcgate-rec-walltime" "-l walltime=00:00:20" -- 'sleep 600')
completed=$(sub alice "-N hpcgate-rec-completed" -- true)
failed=$(sub alice "-N hpcgate-rec-failed" -- 'exit 3')
killed=$(sub alice "-N hpcgate-rec-killed" -- 'kill -9 $$')
deleted_queued=$(sub alice -h "-N hpcgate-rec-deleted-queued" -- true)
deleted_running=$(sub alice "-N hpcgate-rec-deleted-running" -- 'sleep 600')
wait_state "$deleted_running" R 20
as alice "$bin/qdel" "$deleted_queued" "$deleted_running"
wait_state "$deleted_running" F 30
wait_state "$completed" F 20
wait_state "$failed" F 20
wait_state "$killed" F 20
rec qdel-finished alice "$bin/qdel" "$completed"
rec qdel-unknown alice "$bin/qdel" 99999.pbsserver
rec qrls-finished alice "$bin/qrls" "$completed"
rec qrls-unknown alice "$bin/qrls" 99999.pbsserver
rec qstat-finished-without-x hpcgate "$bin/qstat" -f -F json "$completed"

# --- jobs that stay -------------------------------------------------------
# The node has 2 CPUs: one running job takes one, so a 2-CPU job waits with
# an estimated start.
running=$(sub alice "-N hpcgate-rec-running" "-l select=1:ncpus=1" "-l walltime=00:30:00" -- 'sleep 600')
wait_state "$running" R 20
blocked=$(sub alice "-N hpcgate-rec-blocked" "-l select=1:ncpus=2" "-l walltime=00:10:00" -- 'sleep 600')
held=$(sub alice -h "-N hpcgate-rec-held" -- true)
held_later=$(sub alice "-N hpcgate-rec-held-later" "-q stopped" -- true)
as alice "$bin/qhold" "$held_later"
waiting=$(sub alice "-N hpcgate-rec-waiting" "-a 2359" -- true)
stopped=$(sub alice "-N hpcgate-rec-stopped-queue" "-q stopped" -- true)
long=$(sub bob -h "-N hpcgate-rec-bob-long" "-q long" "-l select=1:ncpus=2:mem=1gb" "-l walltime=48:00:00" -- true)
# Environment values PBS types as numbers that are not JSON numbers
# (openpbs/openpbs#1255): released qstat prints them bare, as the stand-in
# does, so the JSON is invalid and the adapter must cope.
odd=$(as alice "$bin/qsub" -h -N hpcgate-rec-odd-values -j oe -o /dev/null \
  -v 'DOT=.5,TRAIL=123.,INF=inf,NAN=nan,PLUS=+5,LZ=007,EXP=1e5,NEG=-3,SP= 12' <"$(mkscript -- true)")
echo "$odd" >>"$ids_file"
sleep 2 # a scheduling cycle sets the blocked job's comment and estimate

# The adapter's queries: status (with history), as the hub's service account.
status() { local name=$1; shift; rec "$name" hpcgate "$bin/qstat" -f -F json -x "$@"; }

all="$walltime $completed $failed $killed $deleted_queued $deleted_running $running $blocked $held $held_later $waiting $stopped $long"
# shellcheck disable=SC2086
status qstat-status-mixed $all

# --- hostile records -------------------------------------------------------
# OpenPBS's JSON printer (pbs_json.c) prints keys unescaped, and a value's
# first '"' or a '"' after a backslash unescaped. A Variable_List key is an
# environment variable name the job's owner chose (qsub -v, -V, qalter -v):
# quotes, braces, newlines. bob's held jobs: one whose -v names forge a
# well-formed job record for alice's held job (the victim) saying it
# finished with exit status 0; one named '"hpcgate-rec-hostile\' (real qsub
# refuses such a name, the server takes any 236 bytes from a client that
# skips qsub's check; the stand-in's qsub accepts it), which makes its own
# record invalid JSON.
victim=$(sub alice -h "-N hpcgate-rec-victim" -- true)
ind8='        ' ind12='            '
forge="A"$'\n'"$ind8}"$'\n'"$ind8\"$victim\":{"$'\n'"$ind12\"Job_Name=hpcgate-rec-victim"
forge+=",Job_Owner=alice@vm,job_state=F,substate=92,Exit_status=0,queue=workq,X\":{\"Y=v"
h_forge=$(as bob "$bin/qsub" -h -N hpcgate-rec-forger -j oe -o /dev/null -v "$forge" <"$(mkscript -- true)")
echo "$h_forge" >>"$ids_file"
h_name=$(as bob "$bin/qsub" -h -N '"hpcgate-rec-hostile\' -j oe -o /dev/null <"$(mkscript -- true)")
echo "$h_name" >>"$ids_file"
status qstat-status-hostile "$victim" "$h_forge" "$h_name"
rec qstat-queue-hostile hpcgate "$bin/qstat" -f -F json
as bob "$bin/qdel" "$h_forge" "$h_name"
as alice "$bin/qdel" "$victim"

status qstat-status-pending "$held"
status qstat-status-odd-values "$odd"
status qstat-status-unknown 99999.pbsserver
status qstat-status-unknown-many 99999.pbsserver 99998.pbsserver
status qstat-status-live-and-unknown "$held" 99999.pbsserver "$running"
status qstat-status-short-id "${held%%.*}"
rec qstat-queue hpcgate "$bin/qstat" -f -F json
rec qstat-list-user alice "$bin/qstat" -f -F json
rec qstat-listing alice "$bin/qstat" -x
rec qdel-other-user bob "$bin/qdel" "$held"
rec qrls-other-user bob "$bin/qrls" "$held"
rec qrls-ok alice "$bin/qrls" "$held"
rec qrls-not-held alice "$bin/qrls" "$running"
as alice "$bin/qdel" "$held" 2>/dev/null || true # it may have run already

# Walltime: the stand-in's MoM enforces it every few seconds.
wait_state "$walltime" F 60
status qstat-status-walltime "$walltime"

# --- server down ----------------------------------------------------------
# A copy of pbs.conf whose PBS_HOME has no server: the commands fail as they
# do when pbs_server is down, without touching the real one.
fake=$(mktemp -d)
chmod 0755 "$fake"
sed "s|^PBS_HOME=.*|PBS_HOME=$fake|" "$(dirname "$bin")/pbs.conf" >"$fake/pbs.conf"
chmod 0644 "$fake/pbs.conf"
PBS_CONF_FILE=$fake/pbs.conf status qstat-server-down "$running"
PBS_CONF_FILE=$fake/pbs.conf STDIN=$(mkscript "-N hpcgate-rec-down" -- true) rec qsub-server-down alice "$bin/qsub"

echo "record: done; deleting job ids $(paste -sd' ' "$ids_file")" >&2
