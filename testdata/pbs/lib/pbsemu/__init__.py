"""pbsemu: a stand-in for OpenPBS 22.05 used to test hpcgate's PBS adapter.

OpenPBS is not packaged for Debian, so this package reproduces the
documented behaviour of its user commands (qsub, qstat, qdel, qhold, qrls)
and runs jobs for real through a root daemon (pbs_server, playing both the
PBS server and the MoM of the one node).

Layout: conf (pbs.conf), units (times, sizes, ids, select), render (every
output format of qstat), proto (the file-based request protocol between
the commands and the daemon, PBS error numbers), the commands (qsub and
jobenv, qstat and qstatq, qctl for qdel/qhold/qrls) and the daemon (server,
submit, sched, mom). Standard library only; nothing here may
import anything outside the standard library.
"""

PBS_VERSION = "22.05.11"
