#!/usr/bin/env bash
# Grid Engine on loopback, from Debian's packages (Son of Grid Engine 8.1.9:
# gridengine-master, -exec, -client): a private cell "hpcgate" under
# STATE/sge with its own spool, an sge_qmaster and an sge_execd each owned by
# PID, the queue all.q with the parallel environment smp ($pe_slots), a
# requestable h_vmem and h_rt, a per-job consumable "gpu", and the test
# users in the queue's user list. Idempotent; every start is clean.
#
# Hostnames, Grid Engine's classic pain: every name of this machine (its
# hostname, its FQDN, localhost) is aliased to one, "localhost", in the
# cell's host_aliases, so the qmaster, the execd and the submitting login
# node (sshd on 127.0.0.1) agree whatever /etc/hosts maps the hostname to.
# Clients reach the qmaster at localhost; the daemons themselves listen on
# every address, since Grid Engine's commlib cannot bind to one.
#
# The commands need SGE_ROOT, SGE_CELL and the ports, which neither sshd
# nor sudo pass on: STATE/sge/bin holds one wrapper per command that sets
# them (SGE_BIN in cluster.env, the scheduler's bin_dir), and a sudoers
# file lets the hub's service account run them as the test users.
#
# Usage: sge.sh up|down STATE
#   HPCGATE_SGE_PORTS="QMASTER EXECD" overrides the ports (default 6444 6445).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cmd=${1:?usage: sge.sh up|down STATE}
state=${2:?usage: sge.sh up|down STATE}
state=$(cd "$state" 2>/dev/null && pwd || echo "$state")
dir=$state/sge
root=$dir/root         # SGE_ROOT: the package's tree by symlinks, plus our cell
cell=hpcgate
common=$root/$cell/common
spool=$dir/spool
bin=$dir/bin
read -r qport eport <<<"${HPCGATE_SGE_PORTS:-6444 6445}"
host=localhost
# sudoers.d ignores names with a dot: one file per state directory.
tag=$(printf %s "$dir" | md5sum | cut -c1-8)
sudoers=/etc/sudoers.d/hpcgate-sge-$tag
cmds=(qsub qstat qdel qacct qhold qrls qalter qconf qhost qmod qping qselect)

export SGE_ROOT=$root SGE_CELL=$cell SGE_QMASTER_PORT=$qport SGE_EXECD_PORT=$eport

# install: the packages, without letting their postinst configure or start
# the default cell (/var/lib/gridengine/default): we run our own.
install_packages() {
  local missing=() p
  for p in gridengine-master gridengine-exec gridengine-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "cluster: installing ${missing[*]}"
  debconf-set-selections <<'SEL'
gridengine-common shared/gridengineconfig boolean false
gridengine-common shared/gridenginecell string default
gridengine-common shared/gridenginemaster string localhost
SEL
  # Without a configured cell the init scripts would fail to start the
  # daemons, failing the install: forbid starting services for its
  # duration, unless a policy (a container's) is already in place.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# hpcgate sge.sh: no daemon starts while gridengine installs\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    ours=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  ((ours)) && rm -f "$policy"
  ((rc == 0)) || return $rc
  # At boot the packages' init scripts would start the unconfigured default
  # cell: this machine runs only the cluster's own.
  if [[ -f /etc/default/gridengine ]]; then
    sed -i -e 's/^SGE_START_MASTERD=.*/SGE_START_MASTERD=no/' \
      -e 's/^SGE_START_EXECD=.*/SGE_START_EXECD=no/' /etc/default/gridengine
  fi
}

# qconf_quiet ARGS...: qconf, which reports success on stderr; its words are
# shown only when it fails.
qconf_quiet() {
  local log
  if ! log=$("$bin/qconf" "$@" 2>&1); then
    echo "cluster: qconf $*: $log" >&2
    return 1
  fi
}

# qconf_add LIST-OPTION ADD-OPTION NAME FILE: add a configuration object
# from FILE unless it exists.
qconf_add() {
  local list=$1 add=$2 name=$3 file=$4
  if ! "$bin/qconf" "$list" 2>/dev/null | grep -qxF -- "$name"; then
    qconf_quiet "$add" "$file"
  fi
}

write_cell() {
  rm -rf "$root" "$spool"
  install -d -m 0755 "$root" "$root/$cell" "$common" "$spool"
  install -d -o sgeadmin -g sgeadmin -m 0755 "$spool/qmaster" "$spool/qmaster/job_scripts" "$spool/execd"
  chown sgeadmin:sgeadmin "$common"
  local d
  for d in bin lib util utilbin; do ln -s "/var/lib/gridengine/$d" "$root/$d"; done
  cat >"$common/bootstrap" <<EOF
# Written by hpcgate testdata/cluster/sge.sh.
admin_user              sgeadmin
default_domain          none
ignore_fqdn             true
spooling_method         classic
spooling_lib            libspoolc
spooling_params         $common;$spool/qmaster
binary_path             /usr/sbin
qmaster_spool_dir       $spool/qmaster
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
  echo "$host" >"$common/act_qmaster"
  # The first name is the one Grid Engine uses; the others resolve to it.
  local names=("$host") n
  for n in "$(hostname)" "$(hostname -f 2>/dev/null || true)" "$(hostname -s)" localhost.localdomain; do
    [[ -n $n && ! " ${names[*]} " =~ " $n " ]] && names+=("$n")
  done
  echo "${names[*]}" >"$common/host_aliases"
  chown -R sgeadmin:sgeadmin "$common"

  local t=$dir/templates
  rm -rf "$t"
  install -d "$t" "$t/centry" "$t/usersets" "$t/hosts"
  # Job ids start from the clock, as Slurm's do here (and wrap below SGE's
  # 9999999): a hub database from an earlier run cannot mistake a new job
  # for an old one.
  echo $(( ($(date +%s) / 10) % 9000000 + 10 )) >"$spool/qmaster/jobseqnum"
  chown sgeadmin:sgeadmin "$spool/qmaster/jobseqnum"
  # accounting_flush_time=0: qacct sees a job as soon as it has ended.
  sed -e "s|^execd_spool_dir .*|execd_spool_dir        $spool/execd|" \
    -e "s|^reporting_params .*|reporting_params       accounting=true reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00|" \
    -e "s|^mailer .*|mailer                 /bin/true|" \
    /usr/share/gridengine/default-configuration >"$t/configuration"
  cp /usr/share/gridengine/util/resources/centry/* "$t/centry/"
  # A GPU count per job (JOB: not multiplied by the parallel environment's
  # slots), requestable; no host here has one, so gpu=0 is all that runs.
  cat >"$t/centry/gpu" <<'EOF'
name        gpu
shortcut    gpu
type        INT
relop       <=
requestable YES
consumable  JOB
default     0
urgency     0
EOF
  cp /usr/share/gridengine/util/resources/usersets/* "$t/usersets/"
  cat >"$t/usersets/hpcusers" <<'EOF'
name       hpcusers
type       ACL
oticket    0
fshare     0
entries    alice,bob,carol,dave
EOF
  echo "hostname $host" >"$t/hosts/$host"
  (
    cd "$t"
    /usr/lib/gridengine/spoolinit classic libspoolc "$common;$spool/qmaster" init
    /usr/lib/gridengine/spooldefaults configuration "$t/configuration"
    /usr/lib/gridengine/spooldefaults complexes "$t/centry"
    /usr/lib/gridengine/spooldefaults usersets "$t/usersets"
    /usr/lib/gridengine/spooldefaults managers root sgeadmin
    /usr/lib/gridengine/spooldefaults adminhosts "$t/hosts"
    /usr/lib/gridengine/spooldefaults submithosts "$t/hosts"
  ) >"$dir/init.log" 2>&1 || { cat "$dir/init.log" >&2; return 1; }
  chown -R sgeadmin:sgeadmin "$common" "$spool/qmaster"
}

write_wrappers() {
  install -d -m 0755 "$bin"
  local c
  for c in "${cmds[@]}"; do
    cat >"$bin/$c.tmp" <<EOF
#!/bin/sh
# Written by hpcgate testdata/cluster/sge.sh: Grid Engine's $c for the
# loopback cell, whatever the caller's environment (sshd and sudo pass none).
SGE_ROOT='$root' SGE_CELL='$cell' SGE_QMASTER_PORT='$qport' SGE_EXECD_PORT='$eport'
export SGE_ROOT SGE_CELL SGE_QMASTER_PORT SGE_EXECD_PORT
exec /usr/bin/$c "\$@"
EOF
    chmod 0755 "$bin/$c.tmp"
    mv -f "$bin/$c.tmp" "$bin/$c"
  done
  local tmp
  tmp=$(mktemp)
  {
    echo "# Written by hpcgate testdata/cluster/sge.sh for $dir."
    printf 'Cmnd_Alias HPCGATE_SGE_%s =' "${tag^^}"
    local sep=' '
    for c in qsub qstat qdel qacct qhold qrls; do printf '%s%s' "$sep" "$bin/$c"; sep=', '; done
    echo
    echo "hpcgate ALL = (%hpcusers) NOPASSWD: HPCGATE_SGE_${tag^^}"
  } >"$tmp"
  visudo -cq -f "$tmp"
  install -m 0440 "$tmp" "$sudoers"
  rm -f "$tmp"
}

configure_queue() {
  local t=$dir/templates
  cat >"$t/exechost" <<EOF
hostname              $host
load_scaling          NONE
complex_values        gpu=0
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
  sed -e 's/^control_slaves .*/control_slaves     FALSE/' \
    /usr/share/gridengine/util/resources/pe/smp >"$t/pe-smp"
  printf 'group_name @allhosts\nhostlist %s\n' "$host" >"$t/allhosts"
  # qdel's default is SIGKILL, which leaves a job no way to clean up:
  # terminate.sh sends SIGTERM, so the job script removes its address file,
  # and SIGKILL 10 s later, as Slurm's KillWait does. Four slots on however
  # many cores, as Slurm's node here.
  cat >"$dir/terminate.sh.tmp" <<'EOF'
#!/bin/bash
# Written by hpcgate testdata/cluster/sge.sh: the queue's terminate_method,
# run with the job's PID (its process group): SIGTERM, then SIGKILL after 10 s.
pid=$1
kill -TERM -- "-$pid" 2>/dev/null || exit 0
i=0
while [ $i -lt 100 ] && kill -0 -- "-$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -KILL -- "-$pid" 2>/dev/null
exit 0
EOF
  chmod 0755 "$dir/terminate.sh.tmp"
  mv -f "$dir/terminate.sh.tmp" "$dir/terminate.sh"
  "$bin/qconf" -sq | sed -e 's/^qname .*/qname                 all.q/' \
    -e 's/^hostlist .*/hostlist              @allhosts/' \
    -e 's/^pe_list .*/pe_list               smp/' \
    -e 's/^slots .*/slots                 4/' \
    -e 's/^user_lists .*/user_lists            hpcusers/' \
    -e 's|^shell .*|shell                 /bin/bash|' \
    -e "s|^terminate_method .*|terminate_method      $dir/terminate.sh \\\$job_pid|" \
    -e 's/^load_thresholds .*/load_thresholds       NONE/' >"$t/all.q"
  qconf_add -sel -Ae "$host" "$t/exechost"
  qconf_add -spl -Ap smp "$t/pe-smp"
  qconf_add -shgrpl -Ahgrp @allhosts "$t/allhosts"
  qconf_add -sql -Aq all.q "$t/all.q"
  # Scheduling info (qstat -j's reasons), a short scheduling interval, and
  # no load adjustments: the machine's load (other tests) must not keep
  # jobs waiting, so no load threshold either (above).
  "$bin/qconf" -ssconf | sed -e 's/^schedule_interval .*/schedule_interval                 0:0:2/' \
    -e 's/^job_load_adjustments .*/job_load_adjustments              NONE/' \
    -e 's/^schedd_job_info .*/schedd_job_info                   true/' >"$t/sconf"
  qconf_quiet -Msconf "$t/sconf"
}

queue_ready() {
  # The queue instance is listed and in no state (no "u"nknown, "a"larm,
  # "d"isabled, "E"rror): the execd has reported.
  local line
  line=$("$bin/qstat" -f -q "all.q@$host" 2>/dev/null | grep "^all.q@") || return 1
  [[ $(awk '{print $6}' <<<"$line") == "" ]]
}

case $cmd in
up)
  install_packages
  install -d -m 0755 "$state" "$dir"
  if running "$dir/qmaster.pid.bg" && running "$dir/execd.pid.bg"; then
    write_wrappers
    exit 0 # already up: keep its configuration and jobs
  fi
  for p in "$qport" "$eport"; do
    if ! running "$dir/qmaster.pid.bg" && ! running "$dir/execd.pid.bg" && port_open "$p"; then
      echo "cluster: port $p is taken; set HPCGATE_SGE_PORTS" >&2
      exit 1
    fi
  done
  stop_pid sge_execd "$dir/execd.pid.bg"
  stop_pid sge_qmaster "$dir/qmaster.pid.bg"
  write_cell
  write_wrappers
  # SGE_ND: stay in the foreground, so the PID recorded is the daemon's.
  start_bg sge_qmaster "$dir/qmaster.pid.bg" "$dir/qmaster.out" \
    env SGE_ND=true /usr/sbin/sge_qmaster
  wait_for "sge_qmaster on port $qport" 30 "$bin/qconf" -sh
  configure_queue
  start_bg sge_execd "$dir/execd.pid.bg" "$dir/execd.out" \
    env SGE_ND=true /usr/sbin/sge_execd
  wait_for "queue all.q@$host" 60 queue_ready
  ;;
down)
  if running "$dir/qmaster.pid.bg" && [[ -x $bin/qdel ]]; then
    # The execd leaves jobs running when it stops: delete them first.
    "$bin/qdel" -u '*' >/dev/null 2>&1 || true
    timeout 15 bash -c "while [ -n \"\$('$bin/qstat' -u '*' 2>/dev/null)\" ]; do sleep 0.3; done" || true
  fi
  stop_pid sge_execd "$dir/execd.pid.bg"
  stop_pid sge_qmaster "$dir/qmaster.pid.bg"
  rm -f "$sudoers"
  ;;
*) echo "usage: sge.sh up|down STATE" >&2; exit 2 ;;
esac
