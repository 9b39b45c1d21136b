#!/usr/bin/env bash
# Stops every daemon of the loopback cluster by PID. Harmless to run twice.
# Usage: down.sh [STATE]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-${HPCGATE_CLUSTER_STATE:-/tmp/hpcgate-cluster}}
[[ -d $state ]] || exit 0
"$here/sshd.sh" down "$state"
"$here/ldap.sh" down "$state"
[[ -x $repo/testdata/pbs/stop.sh ]] && "$repo/testdata/pbs/stop.sh" "$state"
"$here/sge.sh" down "$state"
"$here/slurm.sh" down "$state"
"$here/postgres.sh" down "$state"
rm -f "$state/cluster.env"
echo "cluster: down"
