#!/usr/bin/env bash
# A cluster whose compute node cannot reach the hub, in network namespaces:
#
#   root namespace (the hub)  10.213.1.1 ── hpcg-hub0 / hpcg-login0 ── 10.213.1.2
#   hpcg-login  (sshd on 10.213.1.2:2222, slurmctld; no ip_forward)
#                             10.213.2.1 ── hpcg-login1 / hpcg-comp0 ── 10.213.2.2
#   hpcg-compute (slurmd: node cn1, where the jobs run)
#
# Before any address exists, 10.213.0.0/16 is made unreachable in the root
# namespace, so no packet for the range can leave the machine by its default
# route. The login node resolves cn1 through /etc/netns/hpcg-login/hosts
# (sshd runs under `ip netns exec`); slurmctld and slurmd run under
# `nsenter --net` (ip netns exec remounts /sys, and slurmd needs its
# cgroups). munge is the loopback cluster's: its socket is a path, reachable
# from every namespace. sshd trusts the loopback cluster's user CA and
# service key, and lets only the service account listen, on 10.213.2.1:8081.
#
# Usage: netns.sh up|down|restart-sshd STATE [CLUSTER_STATE]
#   STATE          this topology's directory (PID files, configs, logs)
#   CLUSTER_STATE  the loopback cluster's (default /tmp/hpcgate-cluster)
# up writes STATE/netns.env; down undoes whatever up did, also after a
# failed or partial up, and stops only the PIDs in STATE's PID files.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cmd=${1:?usage: netns.sh up|down|restart-sshd STATE [CLUSTER_STATE]}
state=${2:?usage: netns.sh up|down|restart-sshd STATE [CLUSTER_STATE]}
cluster=${3:-/tmp/hpcgate-cluster}

range=10.213.0.0/16
hub_ip=10.213.1.1 login_ip=10.213.1.2 login_cip=10.213.2.1 compute_ip=10.213.2.2
ns_login=hpcg-login ns_compute=hpcg-compute
ssh_port=2222 bind=$login_cip:8081
in_login=(nsenter --net=/run/netns/$ns_login)
in_compute=(nsenter --net=/run/netns/$ns_compute)
conf=$state/slurm/slurm.conf

# stop_tree NAME PIDFILE: stop_pid, and first collect the processes the
# daemon forked (sshd's per-connection children outlive the listener).
descendants() {
  local k
  for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$k"
    descendants "$k"
  done
}

# All of them, grandchildren too: each connection is a privileged monitor
# and an unprivileged child holding the socket (and any reverse forward's
# listener), which would otherwise linger until the hub's keepalive.
stop_tree() {
  local pid kids
  [[ -s $2 ]] || return 0
  pid=$(cat "$2")
  kids=$(descendants "$pid")
  stop_pid "$1" "$2"
  for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
}

start_sshd() {
  start_bg sshd "$state/ssh/sshd.pid.bg" "$state/ssh/sshd.out" \
    ip netns exec "$ns_login" /usr/sbin/sshd -D -e -f "$state/ssh/sshd_config"
  wait_for "sshd on $login_ip:$ssh_port" 10 bash -c "exec 3<>/dev/tcp/$login_ip/$ssh_port"
}

up() {
  set -e
  [[ $(id -u) == 0 ]] || { echo "netns: run as root (it creates network namespaces)" >&2; exit 1; }
  for ns in $ns_login $ns_compute; do
    if ip netns list | grep -qw "$ns"; then
      echo "netns: namespace $ns exists: another run is up (netns.sh down STATE stops it)" >&2; exit 1
    fi
  done
  [[ -S $cluster/munge/munge.socket ]] || { echo "netns: no munge socket in $cluster (make cluster-up)" >&2; exit 1; }
  install -d -m 0755 "$state" "$state/slurm" "$state/slurm/ctld" "$state/slurm/d" "$state/ssh" "$state/ssh/authorized_keys"

  # First of all: nothing for the test range may leave the machine.
  ip route add unreachable "$range"
  touch "$state/route"
  ip netns add "$ns_login"
  ip netns add "$ns_compute"
  ip link add hpcg-hub0 type veth peer name hpcg-login0 netns "$ns_login"
  ip link add hpcg-comp0 netns "$ns_compute" type veth peer name hpcg-login1 netns "$ns_login"
  ip addr add "$hub_ip/24" dev hpcg-hub0
  ip link set hpcg-hub0 up
  ip -n "$ns_login" addr add "$login_ip/24" dev hpcg-login0
  ip -n "$ns_login" addr add "$login_cip/24" dev hpcg-login1
  ip -n "$ns_compute" addr add "$compute_ip/24" dev hpcg-comp0
  for l in lo hpcg-login0 hpcg-login1; do ip -n "$ns_login" link set "$l" up; done
  for l in lo hpcg-comp0; do ip -n "$ns_compute" link set "$l" up; done
  "${in_login[@]}" sysctl -qw net.ipv4.ip_forward=0
  install -d -m 0755 "/etc/netns/$ns_login"
  printf '127.0.0.1 localhost\n%s cn1\n' "$compute_ip" >"/etc/netns/$ns_login/hosts"

  sed -e "s|@STATE@|$state/slurm|g" -e "s|@MUNGE@|$cluster/munge/munge.socket|g" \
    -e "s|@HOSTNAME@|$(hostname)|g" -e "s|@LOGIN_IP@|$login_cip|g" -e "s|@COMPUTE_IP@|$compute_ip|g" \
    -e "s|@FIRSTJOBID@|$(( ($(date +%s) / 10) % 6000000 * 10 + 10 ))|g" \
    "$here/netns-slurm.conf.in" >"$conf"
  start_bg slurmctld "$state/slurm/slurmctld.pid.bg" "$state/slurm/slurmctld.out" \
    "${in_login[@]}" /usr/sbin/slurmctld -D -c -f "$conf"
  wait_for "slurmctld in $ns_login" 20 env SLURM_CONF="$conf" "${in_login[@]}" scontrol ping
  start_bg slurmd "$state/slurm/slurmd.pid.bg" "$state/slurm/slurmd.out" \
    "${in_compute[@]}" /usr/sbin/slurmd -D -N cn1 -f "$conf"
  wait_for "node cn1 idle" 30 bash -c \
    "SLURM_CONF='$conf' ${in_login[*]} sinfo -h -n cn1 -o %t | grep -Eq '^(idle|mix|alloc)'"

  [[ -f $state/ssh/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C hpcgate-netns-login -f "$state/ssh/host_ed25519"
  install -m 0644 "$cluster/ssh/user_ca.pub" "$state/ssh/user_ca.pub"
  install -m 0644 "$cluster/ssh/hpcgate_key.pub" "$state/ssh/authorized_keys/hpcgate"
  echo "[$login_ip]:$ssh_port $(cut -d' ' -f1,2 "$state/ssh/host_ed25519.pub")" >"$state/ssh/known_hosts"
  sed -e "s|@DIR@|$state/ssh|g" -e "s|@PORT@|$ssh_port|g" -e "s|@SLURM_CONF@|$conf|g" \
    -e "s|@LISTEN@|$login_ip|g" -e "s|@PERMIT_LISTEN@|$bind|g" \
    "$here/sshd_config.in" >"$state/ssh/sshd_config"
  install -d -m 0755 /run/sshd
  /usr/sbin/sshd -t -f "$state/ssh/sshd_config"
  start_sshd

  cat >"$state/netns.env" <<ENV
# Written by testdata/cluster/netns.sh. KEY=VALUE, one per line.
NS_LOGIN=$ns_login
NS_COMPUTE=$ns_compute
HUB_IP=$hub_ip
LOGIN_IP=$login_ip
LOGIN_COMPUTE_IP=$login_cip
COMPUTE_IP=$compute_ip
SSH_ADDR=$login_ip:$ssh_port
SSH_KNOWN_HOSTS=$state/ssh/known_hosts
HUB_API_BIND=$bind
SLURM_CONF=$conf
ENV
  echo "netns: up (state in $state)"
}

down() {
  if [[ -f $conf ]] && running "$state/slurm/slurmctld.pid.bg"; then
    # slurmd leaves jobs running when it stops: cancel them first.
    ids=$(SLURM_CONF=$conf "${in_login[@]}" squeue -h -o %i 2>/dev/null || true)
    [[ -n $ids ]] && SLURM_CONF=$conf "${in_login[@]}" scancel $ids 2>/dev/null
    SLURM_CONF=$conf timeout 15 "${in_login[@]}" bash -c \
      'while [ -n "$(squeue -h -t R,CG -o %i)" ]; do sleep 0.2; done' || true
  fi
  stop_tree sshd "$state/ssh/sshd.pid.bg"
  stop_pid slurmd "$state/slurm/slurmd.pid.bg"
  stop_pid slurmctld "$state/slurm/slurmctld.pid.bg"
  rm -rf "/etc/netns/$ns_login"
  # Deleting a namespace deletes the veth ends in it, and so their peers.
  for ns in $ns_login $ns_compute; do
    ip netns list | grep -qw "$ns" && ip netns del "$ns"
  done
  ip link show hpcg-hub0 >/dev/null 2>&1 && ip link del hpcg-hub0
  if [[ -f $state/route ]]; then
    ip route del unreachable "$range" 2>/dev/null
    rm -f "$state/route"
  fi
  rm -f "$state/netns.env"
  echo "netns: down"
}

case $cmd in
up) up ;;
down) down ;;
restart-sshd)
  # As a login node's sshd restart that also drops its connections: the
  # listener and every connection process it forked go, then it starts.
  stop_tree sshd "$state/ssh/sshd.pid.bg"
  start_sshd
  ;;
*) echo "usage: netns.sh up|down|restart-sshd STATE [CLUSTER_STATE]" >&2; exit 2 ;;
esac
