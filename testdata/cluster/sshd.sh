#!/usr/bin/env bash
# The login node: OpenSSH sshd on 127.0.0.1:2222 with its own host key. It
# trusts the cluster's user CA (certificate auth mode) and the service
# account's key (sudo auth mode); remote commands find Slurm's config.
# Usage: sshd.sh up|down STATE [PORT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cmd=${1:?usage: sshd.sh up|down STATE [PORT]}
state=${2:?usage: sshd.sh up|down STATE [PORT]}
port=${3:-2222}
dir=$state/ssh

case $cmd in
up)
  install -d -m 0755 "$dir" "$dir/authorized_keys" "$dir/users"
  [[ -f $dir/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C hpcgate-test-login -f "$dir/host_ed25519"
  [[ -f $dir/user_ca ]] || ssh-keygen -q -t ed25519 -N '' -C hpcgate-test-user-ca -f "$dir/user_ca"
  [[ -f $dir/hpcgate_key ]] || ssh-keygen -q -t ed25519 -N '' -C hpcgate-service -f "$dir/hpcgate_key"
  install -m 0644 "$dir/hpcgate_key.pub" "$dir/authorized_keys/hpcgate"
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
  # A day-long certificate per user for trying the login node by hand:
  #   ssh -p 2222 -i STATE/ssh/users/alice -o UserKnownHostsFile=STATE/ssh/known_hosts alice@127.0.0.1
  for u in alice bob carol dave; do
    if [[ ! -f $dir/users/$u ]]; then
      ssh-keygen -q -t ed25519 -N '' -C "$u" -f "$dir/users/$u"
      chown root: "$dir/users/$u"
    fi
    ssh-keygen -q -s "$dir/user_ca" -I "hpcgate-test:$u" -n "$u" -V -5m:+1d "$dir/users/$u.pub"
  done
  # 127.0.0.1:18081 is where the service account may have sshd listen for
  # a site trying hub_api: reverse-tunnel on the loopback cluster.
  sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@SLURM_CONF@|$state/slurm/slurm.conf|g" \
    -e "s|@LISTEN@|127.0.0.1|g" -e "s|@PERMIT_LISTEN@|127.0.0.1:18081|g" \
    "$here/sshd_config.in" >"$dir/sshd_config"
  install -d -m 0755 /run/sshd
  /usr/sbin/sshd -t -f "$dir/sshd_config"
  start_bg sshd "$dir/sshd.pid.bg" "$dir/sshd.out" /usr/sbin/sshd -D -e -f "$dir/sshd_config"
  wait_for "sshd on port $port" 10 port_open "$port"
  ;;
down)
  stop_pid sshd "$dir/sshd.pid.bg"
  ;;
*) echo "usage: sshd.sh up|down STATE [PORT]" >&2; exit 2 ;;
esac
