#!/usr/bin/env bash
# Brings the whole loopback cluster up: packages, users, Slurm, Grid Engine,
# the PBS stand-in, the sshd login node, LDAP and a private PostgreSQL.
# Idempotent.
# Writes STATE/cluster.env, which tests and the demo read.
# Usage: up.sh [STATE]   (default /tmp/hpcgate-cluster)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-${HPCGATE_CLUSTER_STATE:-/tmp/hpcgate-cluster}}
pg_port=${HPCGATE_PG_PORT:-5433}
start=$EPOCHREALTIME

[[ $(id -u) == 0 ]] || { echo "cluster: run as root (it creates users and starts daemons)" >&2; exit 1; }
"$here/install.sh"
install -d -m 0755 "$state"
"$here/users.sh" "$state/pbs/bin"
"$here/slurm.sh" up "$state"
"$here/sge.sh" up "$state"
"$repo/testdata/pbs/install.sh" "$state"
"$repo/testdata/pbs/start.sh" "$state"
"$here/sshd.sh" up "$state" 2222
"$here/ldap.sh" up "$state"
pg_url=$("$here/postgres.sh" up "$state" "$pg_port" | tail -n 1)
command -v jupyterhub-singleuser >/dev/null || { echo "cluster: jupyterhub-singleuser missing" >&2; exit 1; }

cat >"$state/cluster.env" <<ENV
# Written by testdata/cluster/up.sh. KEY=VALUE, one per line.
STATE=$state
SLURM_CONF=$state/slurm/slurm.conf
PBS_BIN=$state/pbs/bin
SGE_ROOT=$state/sge/root
SGE_CELL=hpcgate
SGE_BIN=$state/sge/bin
PBS_CONF_FILE=$state/pbs/pbs.conf
SSH_ADDR=127.0.0.1:2222
SSH_KNOWN_HOSTS=$state/ssh/known_hosts
SSH_USER_CA=$state/ssh/user_ca
SSH_SERVICE_USER=hpcgate
SSH_SERVICE_KEY=$state/ssh/hpcgate_key
SSH_USER_KEYS=$state/ssh/users
LDAP_URL=ldap://127.0.0.1:3389
LDAPS_URL=ldaps://127.0.0.1:3636
LDAP_CA_FILE=$state/ldap/ca.pem
LDAP_BASE_DN=dc=example,dc=org
LDAP_BIND_DN=cn=hpcgate,ou=services,dc=example,dc=org
LDAP_BIND_PASSWORD_FILE=$state/ldap/bind_password
POSTGRES_URL=$pg_url
ENV
awk -v a="$start" -v b="$EPOCHREALTIME" -v s="$state" \
  'BEGIN { printf "cluster: up in %.1fs (state in %s, settings in %s/cluster.env)\n", b - a, s, s }'
