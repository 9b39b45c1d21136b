#!/usr/bin/env bash
# Re-records the Grid Engine outputs in this directory from a real Grid
# Engine: a private cell that testdata/cluster/sge.sh brings up for the
# recording in a scratch state directory, on its own ports, so the shared
# cluster is not disturbed and the queue holds only the jobs made here; it
# is taken down at the end (the last cases need the qmaster stopped). For
# each case NAME it writes NAME.cmd (the argv, one argument per line),
# NAME.out, NAME.err and NAME.rc, and NAME.in for qsub's stdin. The tests in
# batch/sge replay them and check that each argv is the one the adapter
# sends.
#
# Usage (as root): batch/sge/testdata/record.sh
#   HPCGATE_SGE_PORTS="QMASTER EXECD" (default "6454 6455") picks the ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
[[ $(id -u) == 0 ]] || { echo "record: run as root (it runs commands as alice and bob)" >&2; exit 1; }
export HPCGATE_SGE_PORTS=${HPCGATE_SGE_PORTS:-6454 6455}
state=$(mktemp -d /tmp/hpcgate-sge-record.XXXXXX)
chmod 0755 "$state"
bin=$state/sge/bin
out=$here
cleanup() {
  "$repo/testdata/cluster/sge.sh" down "$state" >/dev/null 2>&1 || true
  rm -rf "$state"
  rm -rf /home/alice/.hpcgate-rec /home/bob/.hpcgate-rec
}
trap cleanup EXIT
"$repo/testdata/cluster/sge.sh" up "$state"

# as USER ARGV...: run as USER in their home with a clean environment, the
# way a command arrives over ssh, the wrappers first on PATH ("" is the
# hub's service account, hpcgate).
as() {
  local u=${1:-hpcgate}; shift
  (cd "/home/$u" && runuser -u "$u" -- env -i HOME="/home/$u" USER="$u" LOGNAME="$u" \
    PATH="$bin:/usr/bin:/bin" TZ=UTC "$@")
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
# sub USER QSUB-OPTIONS... <script: submit, print the id.
sub() {
  local u=$1; shift
  as "$u" qsub -terse -o /dev/null -j y "$@"
}
state_of() { as "" qstat -u '*' | awk -v id="$1" '$1 == id {print $5}'; }
wait_state() { # ID STATE SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    [[ $(state_of "$1") == "$2" ]] && return 0
    sleep 0.2
  done
  echo "record: job $1 is $(state_of "$1"), not $2, after $3 s" >&2
  as "" qstat -j "$1" | grep -E "scheduling|error" >&2 || true
  as "" qstat -f -u "*" >&2 || true
  return 1
}
wait_gone() { # ID SECONDS
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    [[ -z $(state_of "$1") ]] && as "" qacct -j "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# A job script like the template's: directives, then a long sleep.
script=$state/job.sh
cat >"$script" <<'EOF'
#!/bin/bash
#$ -N hpcgate-rec-script
#$ -S /bin/bash
#$ -o .hpcgate-rec/hpcgate-rec-script.log
#$ -j y
#$ -l h_rt=00:10:00
sleep 600
EOF
for u in alice bob; do install -d -o "$u" -g hpcusers -m 0700 "/home/$u/.hpcgate-rec"; done

# Submitting.
rec mkdir-rundir alice mkdir -p -m 0700 -- .hpcgate
STDIN=$script rec qsub-ok alice qsub -terse
STDIN=$script rec qsub-hold alice qsub -terse -h
# The queue has 4 slots: make room for the jobs below.
as alice qdel "$(cat "$out/qsub-ok.out")" "$(cat "$out/qsub-hold.out")" >/dev/null
sed 's/^#$ -j y$/#$ -q nosuch/' "$script" >"$state/badq.sh"
STDIN=$state/badq.sh rec qsub-unknown-queue alice qsub -terse
sed 's/^#$ -j y$/#$ -pe nosuch 2/' "$script" >"$state/badpe.sh"
STDIN=$state/badpe.sh rec qsub-unknown-pe alice qsub -terse
sed 's/^#$ -l h_rt=00:10:00$/#$ -l h_rt=ten/' "$script" >"$state/badrt.sh"
STDIN=$state/badrt.sh rec qsub-bad-walltime alice qsub -terse
sed 's/^#$ -j y$/#$ -l nosuchres=1/' "$script" >"$state/badres.sh"
STDIN=$state/badres.sh rec qsub-unknown-resource alice qsub -terse

# Every state at once, and names qstat must escape.
running=$(echo 'sleep 600' | sub bob -N hpcgate-rec-running -pe smp 2 -l h_rt=00:30:00,h_vmem=1G -q all.q)
wait_state "$running" r 30
held=$(echo 'sleep 600' | sub alice -h -N hpcgate-rec-held)
gpu=$(echo 'sleep 600' | sub bob -N hpcgate-rec-gpu -l gpu=1)
eqw=$(echo 'sleep 600' | as bob qsub -terse -N hpcgate-rec-eqw -o /nonexistent/dir/x.log -j y)
wait_state "$eqw" Eqw 30
susp=$(echo 'sleep 600' | sub alice -N hpcgate-rec-suspended)
wait_state "$susp" r 30
as alice qmod -sj "$susp" >/dev/null
# Ignores qdel's SIGTERM, so it stays "dr" until the queue's terminate
# method sends SIGKILL, 10 s later.
deleting=$(echo 'trap "" TERM; sleep 600 & wait; sleep 600' | sub alice -N hpcgate-rec-deleting)
wait_state "$deleting" r 30
as alice qdel "$deleting" >/dev/null
wait_state "$deleting" dr 30
hostile=()
for n in "quo'te\"d" 'amp&lt;x' ']]>cdata' 'evil<&>name'; do
  hostile+=("$(echo 'sleep 600' | sub alice -h -N "$n")")
done
wait_state "$susp" s 10
rec qstat-list-all "" qstat -xml -r -u '*'
rec qstat-list-user alice qstat -xml -r -u alice
rec qstat-detail-error "" qstat -xml -j "$eqw"
rec qstat-detail-mixed "" qstat -xml -j "$held,9999998,$running"
rec qstat-detail-unknown "" qstat -xml -j 9999998
rec qstat-detail-unknown-many "" qstat -xml -j 9999998,9999997
# History of jobs still there, and of one that never was.
rec qacct-held "" qacct -j "$held"
rec qacct-running "" qacct -j "$running"
rec qacct-never "" qacct -j 9999998

# Releasing and deleting.
rec qrls-ok alice qrls "$held"
rec qrls-unknown alice qrls 9999998
rec qdel-other-user alice qdel "$running"
rec qdel-unknown alice qdel 9999998
rec qdel-ok alice qdel "$held"
# (root is a manager of the cell: it may delete others' jobs)
"$bin/qdel" "$eqw" "$gpu" "$susp" "$running" "${hostile[@]}" >/dev/null 2>&1 || true

# How jobs end, as qacct tells it.
done_ok=$(echo 'exit 0' | sub alice -N hpcgate-rec-completed)
done_fail=$(echo 'exit 3' | sub alice -N hpcgate-rec-failed)
timeout=$(echo 'sleep 600' | sub alice -N hpcgate-rec-timeout -l h_rt=0:0:3)
cancelled=$(printf 'python3 -c "import time; time.sleep(600)"\n' | sub alice -N hpcgate-rec-cancelled)
wait_state "$cancelled" r 30
as alice qdel "$cancelled" >/dev/null
pending_del=$(echo 'sleep 600' | sub alice -h -N hpcgate-rec-deleted-pending)
as alice qdel "$pending_del" >/dev/null
for id in "$done_ok" "$done_fail" "$timeout" "$cancelled"; do
  wait_gone "$id" 60 || echo "record: job $id did not end" >&2
done
rec qacct-completed "" qacct -j "$done_ok"
rec qacct-failed "" qacct -j "$done_fail"
rec qacct-timeout "" qacct -j "$timeout"
rec qacct-cancelled "" qacct -j "$cancelled"
rec qacct-unknown "" qacct -j "$pending_del"
rec qstat-detail-ended "" qstat -xml -j "$cancelled"
rec qstat-detail-deleted-pending "" qstat -xml -j "$pending_del"

# The qmaster down: every query fails.
"$bin/qdel" -u '*' >/dev/null 2>&1 || true
"$repo/testdata/cluster/sge.sh" down "$state" >/dev/null
rec qstat-qmaster-down "" qstat -xml -r -u '*'
STDIN=$script rec qsub-qmaster-down alice qsub -terse
rec qdel-qmaster-down alice qdel 9999998
dpkg-query -W -f='${Package} ${Version}\n' gridengine-client gridengine-master gridengine-exec >"$out/version.out"
echo "record: done" >&2
