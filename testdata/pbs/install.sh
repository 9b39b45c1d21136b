#!/usr/bin/env bash
# Installs the OpenPBS stand-in into STATE/pbs: bin/ and lib/ copied from
# here, pbs.conf written, spool directories created with the modes the
# commands rely on. Idempotent; run as root. Usage: install.sh STATE
# Settings (optional): PBS_NCPUS (default 2), PBS_MEM (4gb), PBS_NGPUS (0),
# PBS_KILL_DELAY (10 s, PBS's default), PBS_SERVER_NAME (pbsserver),
# PBS_TMPDIR (/var/tmp; jobs get TMPDIR=PBS_TMPDIR/pbs.<jobid>).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${1:?usage: install.sh STATE}
[[ $(id -u) == 0 ]] || { echo "pbs: install.sh must run as root" >&2; exit 1; }
install -d -m 0755 "$state"
home=$(cd "$state" && pwd)/pbs

install -d -m 0755 "$home" "$home/bin" "$home/lib" "$home/lib/pbsemu"
install -m 0755 "$here"/bin/* "$home/bin/"
install -m 0644 "$here"/lib/pbsemu/*.py "$home/lib/pbsemu/"
rm -rf "$home/lib/pbsemu/__pycache__"
# The daemon sets these modes again when it starts; making them here means
# a fresh install is already usable by ordinary users.
install -d -m 0755 "$home/server_priv" "$home/spool" "$home/aux"
install -d -m 0700 "$home/server_priv/jobs" "$home/spool/output"
install -d -m 1733 "$home/spool/incoming"  # anyone may drop a request; nobody may list
install -d -m 0711 "$home/spool/replies"   # replies are owned by their requester, 0400

tmp=$(mktemp "$home/.pbs.conf.XXXXXX")
cat >"$tmp" <<CONF
# Written by testdata/pbs/install.sh: the configuration of the hpcgate
# OpenPBS stand-in (server, node, queues). See testdata/pbs/README.md.
PBS_SERVER=${PBS_SERVER_NAME:-pbsserver}
PBS_HOME=$home
PBS_EXEC=$home
node=localhost
node_ncpus=${PBS_NCPUS:-2}
node_mem=${PBS_MEM:-4gb}
node_ngpus=${PBS_NGPUS:-0}
default_queue=workq
job_history_enable=True
job_history_duration=336:00:00
kill_delay=${PBS_KILL_DELAY:-10}
tmpdir=${PBS_TMPDIR:-/var/tmp}
queue.workq.resources_max.walltime=24:00:00
queue.workq.resources_max.ncpus=${PBS_NCPUS:-2}
queue.long.resources_max.walltime=72:00:00
queue.long.resources_max.ncpus=${PBS_NCPUS:-2}
# Jobs in a stopped queue stay queued: the scheduler does not look at it.
queue.stopped.started=False
# A disabled queue refuses new jobs ("qsub: Queue is not enabled").
queue.closed.enabled=False
CONF
chmod 0644 "$tmp"
mv -f "$tmp" "$home/pbs.conf"
echo "pbs: installed in $home"
