#!/usr/bin/env bash
# Unix accounts of the loopback cluster: the LDAP users (so jobs run as them),
# their group, and the hub's service account with narrowly scoped sudo.
# Idempotent. Usage: users.sh PBS_BIN_DIR
set -euo pipefail
pbs_bin=${1:?usage: users.sh PBS_BIN_DIR}

getent group hpcusers >/dev/null || groupadd -g 2100 hpcusers
add_user() { # name uid
  if ! id -u "$1" >/dev/null 2>&1; then
    useradd -m -u "$2" -g hpcusers -s /bin/bash "$1"
  fi
  usermod -p '*' "$1" # unlocked for sshd (no password login: keys and certificates only)
}
add_user alice 2001
add_user bob 2002
add_user carol 2003
add_user dave 2004
if ! id -u hpcgate >/dev/null 2>&1; then
  useradd -m -u 2000 -U -s /bin/bash hpcgate
fi
usermod -p '*' hpcgate

# sudo mode: the service account may run only the scheduler commands and the
# few file reads the hub needs, only as members of hpcusers (never root), in
# the target user's home directory.
sudoers=/etc/sudoers.d/hpcgate-testcluster
tmp=$(mktemp)
cat >"$tmp" <<SUDO
# Written by hpcgate testdata/cluster/users.sh for the loopback test cluster.
Defaults:hpcgate !requiretty, !lecture, runcwd=~, !syslog
Defaults:hpcgate env_keep += "SLURM_CONF PBS_CONF_FILE"
Cmnd_Alias HPCGATE_SCHED = /usr/bin/sbatch, /usr/bin/squeue, /usr/bin/scancel, /usr/bin/scontrol, /usr/bin/sacct, \\
  $pbs_bin/qsub, $pbs_bin/qstat, $pbs_bin/qdel, $pbs_bin/qhold, $pbs_bin/qrls
Cmnd_Alias HPCGATE_FILES = /usr/bin/cat, /usr/bin/tail, /usr/bin/mkdir, /usr/bin/rm
hpcgate ALL = (%hpcusers) NOPASSWD: HPCGATE_SCHED, HPCGATE_FILES
SUDO
visudo -cq -f "$tmp"
install -m 0440 "$tmp" "$sudoers"
rm -f "$tmp"
