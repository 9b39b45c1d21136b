"""qstat: the option handling, selection, error messages and exit codes of
OpenPBS 22.05's qstat.c, over the job records the daemon publishes.

Each operand is handled on its own, as qstat.c loops over them: an unknown
id prints 'qstat: Unknown Job Id <id>' and the others still print; the
exit status is that of the last failure & 0xff (153 unknown job, 35
finished job without -x, 1 ill-formed id, 255 no server).
"""

import json
import sys
import time

from . import conf as pbsconf
from . import proto, render, units

OPTSTRING = "ainpqrstwxu:fGHJMQEBW:T1F:D:"
USAGE = ("usage: \n"
         "qstat [-f] [-J] [-p] [-t] [-x] [-E] [-F format | -w] [-D delim] [ job_identifier... | destination... ]\n"
         "qstat [-a|-i|-r|-H|-T] [-J] [-t] [-u user] [-n] [-s] [-G|-M] [-1] [-w]\n"
         "\t[ job_identifier... | destination... ]\n"
         "qstat -Q [-f] [-F format] [-D delim] [ destination... ]\n"
         "qstat -q [-G|-M] [ destination... ]\n"
         "qstat -B [-f] [-F format] [-D delim] [ server_name... ]\n"
         "qstat --version\n")
CONFLICT = "qstat: conflicting options.\n"


class Args:
    def __init__(self):
        self.f = self.x = self.wide = self.nodes = self.comments = False
        self.alt = set()  # letters of the alternate display
        self.users = None
        self.fmt = "default"
        self.delim = "|"
        self.mode = "jobs"
        self.states = None


def parse(argv):
    opts, operands, errflg = proto.getopt(argv, OPTSTRING, argv[0])
    a = Args()
    q_opt = b_opt = False
    fmt_given = None
    for c, arg in opts:
        if c == "?":
            continue
        if c in "airHTGM":
            a.alt.add(c)
            if c == "i":
                a.states = set("EHQTW")
            elif c == "r":
                a.states = set("RS")
            elif c == "H":
                a.states = set("MFX")
                a.x = True
        elif c == "u":
            a.alt.add("u")
            a.users = {u.split("@")[0] for u in arg.split(",")}
        elif c == "n":
            a.alt.add("n")
            a.nodes = True
            a.f = False
        elif c == "s":
            a.alt.add("s")
            a.comments = True
            a.f = False
        elif c == "1":
            a.alt.add("1")
        elif c == "w":
            a.wide = True
        elif c == "x":
            a.x = True
        elif c == "f":
            a.f = True
        elif c == "q":
            a.alt.add("q")
            a.mode = "queues-alt"
        elif c == "Q":
            q_opt = True
            a.mode = "queues"
            if b_opt or (a.alt and not a.wide):
                sys.stderr.write(CONFLICT)
                errflg += 1
        elif c == "B":
            b_opt = True
            a.mode = "servers"
            if q_opt or (a.alt and not a.wide):
                sys.stderr.write(CONFLICT)
                errflg += 1
        elif c == "F":
            if arg.lower() in ("default", "dsv", "json"):
                a.fmt = fmt_given = arg.lower()
            else:
                errflg += 1
        elif c == "D":
            if a.fmt == "dsv":
                a.delim = arg
            else:
                errflg += 1
        # -p, -t, -J, -E, -W: accepted; they change nothing for single jobs.
    sel = a.alt & set("airqH")
    if len(sel) > 1:
        sys.stderr.write(CONFLICT)
        errflg += 1
    if "G" in a.alt and "M" in a.alt:
        sys.stderr.write(CONFLICT)
        errflg += 1
    if not (a.fmt == "default" or a.f):
        sys.stderr.write(CONFLICT)
        errflg += 1
    if "q" in a.alt and a.f:
        sys.stderr.write(CONFLICT)
        errflg += 1
    if "1" in a.alt and not (a.nodes or a.comments):
        sys.stderr.write(CONFLICT)
        errflg += 1
    if a.wide and fmt_given not in (None, "default"):
        sys.stderr.write("qstat: option w cannot be used with -F\n")
        errflg += 1
    if errflg:
        sys.stderr.write(USAGE)
        sys.exit(2)
    if operands and operands[0] == "--":
        operands = operands[1:]
    return a, operands


class Output:
    """Accumulates what qstat prints, with its once-only headers."""

    def __init__(self, conf, a):
        self.conf, self.a = conf, a
        self.out = []
        self.header_done = False
        self.json = None
        self.jobs_open = False
        if a.fmt == "json":
            self.json = render.JSONWriter()
            render.json_header(self.json, int(time.time()), conf.server)

    def jobs(self, jobs):
        if not jobs:
            return
        a = self.a
        if a.alt - {"q"} and not (a.wide and a.f):
            if not self.header_done:
                self.out.append(render.alt_header(self.conf.server)
                                if not a.wide else alt_wide_header(self.conf.server))
                self.header_done = True
            for j in jobs:
                self.out.append(alt_wide_row(j, a) if a.wide else
                                render.alt_row(j, a.nodes, a.comments))
            return
        if not a.f:
            if not self.header_done:
                self.out.append(WIDE_HEADER if a.wide else render.DEFAULT_HEADER)
                self.header_done = True
            for j in jobs:
                self.out.append(wide_row(j) if a.wide else render.listing_row(j))
            return
        if a.fmt == "json":
            if not self.jobs_open:
                self.json.obj("Jobs")
                self.jobs_open = True
            for j in jobs:
                render.json_job(self.json, j)
        elif a.fmt == "dsv":
            self.out.append(render.full_dsv(jobs, a.delim))
        else:
            self.out.append(render.full_text(jobs))

    def flush(self):
        if self.json is not None:
            self.json.end()
            self.out.append(self.json.generate())
        sys.stdout.write("".join(self.out))
        sys.stdout.flush()


WIDE_HEADER = ("Job id                         Name            User             Time Use S Queue\n"
               "-----------------------------  --------------- ---------------  -------- - ---------------\n")


def _cut(s, n):
    return s if len(s) <= n else s[:n - 1] + render.TRUNC


def wide_row(j):
    name = j["name"] if len(j["name"]) < 15 else j["name"][:14] + render.TRUNC
    used = _cut((j.get("used") or {}).get("cput", "0"), 8)
    return (f"{_cut(j['id'], 30):<30} {name:<15} {_cut(j['user'], 15):<15}  "
            f"{used:>8} {j['state']:>1} {_cut(j['queue'], 15):<15}\n")


def alt_wide_header(server):
    sp = " " * 80
    widths = (30, 15, 15, 15, 8, 4, 5)
    return (f"\n{server}: \n"
            + " ".join(sp[:w] for w in widths) + " Req'd  Req'd   Elap\n"
            + " ".join(f"{t:<{w}.{w}}" for t, w in zip(
                ("Job ID", "Username", "Queue", "Jobname", "SessID", "NDS", "TSK"), widths))
            + " Memory Time  S Time\n"
            + " ".join("-" * w for w in widths) + " ------ ----- - -----\n")


def alt_wide_row(j, a):
    res, used = j["resources"], j.get("used") or {}
    blank = render.BLANK
    sess = str(j["session_id"]) if j.get("session_id") is not None else blank
    ncpus = res.get("ncpus", "0")
    line = (f"{_cut(j['id'], 30):<30.30} {_cut(j['user'], 15):<15.15} {_cut(j['queue'], 15):<15.15} "
            f"{_cut(j['name'], 15):<15.15} {sess:>8.8} {res.get('nodect', blank):>4.4} "
            f"{(ncpus if ncpus != '0' else blank):>5.5} "
            f"{(render.cnv_size(res['mem'])[:5] if 'mem' in res else blank):>6.6} "
            f"{res.get('walltime', blank):>5.5} {j['state']:1} {used.get('walltime', blank):>5.5}\n")
    if a.nodes and j.get("exec_host"):
        line += "   " + j["exec_host"] + "\n"
    if a.comments:
        line += "   " + (j.get("comment") or blank) + "\n"
    return line


def load_jobs(conf):
    with open(conf.state_file, encoding="utf-8") as f:
        return json.load(f).get("jobs", [])


def visible(j, a):
    if j["state"] in "FMX" and not a.x:
        return False
    if a.states is not None and j["state"] not in a.states:
        return False
    if a.users is not None and j["user"] not in a.users:
        return False
    return True


def find(jobs, conf, operand):
    seq, _, server = units.parse_jobid(operand)
    for j in jobs:
        if j["seq"] == seq and (not server or server == conf.server
                                or conf.server.startswith(server + ".")
                                or server.startswith(conf.server + ".")):
            return j
    return None


def full_id(conf, operand):
    """get_server(): a bare sequence number gets the default server."""
    seq, array, server = units.parse_jobid(operand)
    return f"{seq}{array or ''}.{server or conf.server}"


def main(argv):
    proto.print_version_and_exit(argv)
    a, operands = parse(argv)
    conf = pbsconf.load_for_command("qstat", argv[0])
    out = Output(conf, a)
    if not proto.server_alive(conf):
        for _ in operands or [None]:
            proto.connect_error("qstat", conf)
        out.flush()
        return 255
    try:
        jobs = load_jobs(conf)
    except (OSError, ValueError):
        proto.connect_error("qstat", conf)
        out.flush()
        return 255
    if a.mode != "jobs":
        from . import qstatq
        return qstatq.main(conf, a, operands, jobs)
    failed = 0
    if a.x and not conf.history_enable:
        sys.stderr.write(f"qstat: {proto.MESSAGES[proto.JOBHISTNOTSET]} "
                         f"{operands[0] if operands else ''}\n")
        out.flush()
        return 0
    for op in operands or [None]:
        if op is None:
            out.jobs([j for j in jobs if visible(j, a)])
        elif units.is_jobid(op):
            try:
                jid = full_id(conf, op)
            except units.UnitError:
                sys.stderr.write(f"qstat: illegally formed job identifier: {op}\n")
                failed = 1
                continue
            j = find(jobs, conf, op)
            if j is None:
                sys.stderr.write(f"qstat: {proto.MESSAGES[proto.UNKJOBID]} {jid}\n")
                failed = proto.UNKJOBID
            elif j["state"] == "F" and not a.x:
                sys.stderr.write(f"qstat: {jid} {proto.MESSAGES[proto.HISTJOBID]}, "
                                 "use -x or -H to obtain historical job information\n")
                failed = proto.HISTJOBID
            else:
                # pbs_statjob() on an explicit id ignores -u/-i/-r selection.
                out.jobs([j])
        else:
            queue = op.split("@")[0]
            if queue and queue not in conf.queues:
                sys.stderr.write(f"qstat: {proto.MESSAGES[proto.UNKQUE]} {op}\n")
                failed = proto.UNKQUE
                continue
            out.jobs([j for j in jobs if visible(j, a) and (not queue or j["queue"] == queue)])
    out.flush()
    return proto.exit_code(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
