"""qstat -Q, -q and -B: queue and server status (display_statque,
altdsp_statque and display_statserver of qstat.c), from pbs.conf and the
job records."""

import socket
import sys
import time

from . import proto, render

QUEUE_HEADER = ("Queue              Max   Tot Ena Str   Que   Run   Hld   Wat   Trn   Ext Type\n"
                "---------------- ----- ----- --- --- ----- ----- ----- ----- ----- ----- ----\n")
SERVER_HEADER = ("Server             Max   Tot   Que   Run   Hld   Wat   Trn   Ext Status\n"
                 "---------------- ----- ----- ----- ----- ----- ----- ----- ----- -----------\n")


def _counts(jobs):
    c = dict.fromkeys("TQHWREB", 0)
    for j in jobs:
        if j["state"] in c:
            c[j["state"]] += 1
    return c


def _state_count(c):
    return (f"Transit:{c['T']} Queued:{c['Q']} Held:{c['H']} Waiting:{c['W']} "
            f"Running:{c['R']} Exiting:{c['E']} Begun:{c['B']} ")


def _cut(s, n):
    return s if len(s) <= n else s[:n - 1] + render.TRUNC


def queue_attrs(conf, q, jobs):
    live = [j for j in jobs if j["queue"] == q.name and j["state"] != "F"]
    c = _counts(live)
    attrs = [("queue_type", None, "Execution"), ("total_jobs", None, str(len(live))),
             ("state_count", None, _state_count(c))]
    for k, v in sorted(q.resources_max.items()):
        attrs.append(("resources_max", k, v))
    for k, v in sorted(q.resources_default.items()):
        attrs.append(("resources_default", k, v))
    running = [j for j in live if j["state"] in "RE"]
    if running:
        attrs.append(("resources_assigned", "ncpus",
                      str(sum(int(j["resources"]["ncpus"]) for j in running))))
        attrs.append(("resources_assigned", "nodect",
                      str(sum(int(j["resources"]["nodect"]) for j in running))))
    attrs.append(("hasnodes", None, "True"))
    attrs.append(("enabled", None, str(q.enabled)))
    attrs.append(("started", None, str(q.started)))
    return attrs, c, len(live)


def main(conf, a, operands, jobs):
    failed = 0
    out = []
    if a.mode == "servers":
        names = operands or [conf.server]
        live = [j for j in jobs if j["state"] != "F"]
        c = _counts(live)
        for name in names:
            if a.f:
                attrs = [("server_state", None, "Active"), ("server_host", None, socket.gethostname()),
                         ("scheduling", None, "True"), ("total_jobs", None, str(len(live))),
                         ("state_count", None, _state_count(c)),
                         ("default_queue", None, conf.default_queue),
                         ("job_history_enable", None, str(conf.history_enable)),
                         ("pbs_version", None, "22.05.11")]
                out.append(_full("Server", conf.server, attrs, a, out))
            else:
                if not out:
                    out.append(SERVER_HEADER)
                out.append(f"{_cut(conf.server, 16):<16} {'0':>5} {len(live):>5} {c['Q']:>5} "
                           f"{c['R']:>5} {c['H']:>5} {c['W']:>5} {c['T']:>5} {c['E']:>5} "
                           f"{'Active':<10}\n")
        return _emit(conf, a, out, failed, "Server")
    names = [op.split("@")[0] for op in operands] or list(conf.queues)
    if a.mode == "queues-alt":
        out.append(f"\nserver: {conf.server}\n\n"
                   "Queue            Memory CPU Time Walltime Node   Run   Que   Lm  State\n"
                   "---------------- ------ -------- -------- ---- ----- ----- ----  -----\n")
        tr = tq = 0
    for name in names:
        q = conf.queues.get(name)
        if q is None:
            sys.stderr.write(f"qstat: {proto.MESSAGES[proto.UNKQUE]} {name}\n")
            failed = proto.UNKQUE
            continue
        attrs, c, total = queue_attrs(conf, q, jobs)
        if a.mode == "queues-alt":
            run, que = c["R"], c["Q"] + c["H"] + c["W"]
            tr, tq = tr + run, tq + que
            wall = q.resources_max.get("walltime", "  --   ")
            mem = q.resources_max.get("mem", "--  ")
            out.append(f"{name:<16.16} {mem:>6.6} {'  --   ':>8.8} {wall:>8.8} {'-- ':>4.4} "
                       f"{run:5d} {que:5d} {'  --   ':>4.4}   {'E' if q.enabled else 'D'} "
                       f"{'R' if q.started else 'S'}\n")
        elif a.f:
            out.append(_full("Queue", name, attrs, a, out))
        else:
            if not any(s.startswith("Queue ") for s in out):
                out.insert(0, QUEUE_HEADER)
            out.append(f"{_cut(name, 16):<16} {'0':>5} {total:>5} {'yes' if q.enabled else 'no':>3} "
                       f"{'yes' if q.started else 'no':>3} {c['Q']:>5} {c['R']:>5} {c['H']:>5} "
                       f"{c['W']:>5} {c['T']:>5} {c['E']:>5} {'Exe' + render.TRUNC:<4}\n")
    if a.mode == "queues-alt":
        out.append("                                               ----- -----\n"
                   f"                                               {tr:5d} {tq:5d}\n")
    return _emit(conf, a, out, failed, "Queue")


def _full(kind, name, attrs, a, out):
    if a.fmt == "json":
        return (kind, name, attrs)
    lines = "\n".join(render.prt_attr(n, r, v) for n, r, v in attrs)
    return f"{kind}: {name}\n{lines}\n\n"


def _emit(conf, a, out, failed, kind):
    if a.fmt == "json":
        w = render.JSONWriter()
        render.json_header(w, int(time.time()), conf.server)
        items = [o for o in out if isinstance(o, tuple)]
        if items:
            w.obj(kind)
            for _, name, attrs in items:
                w.obj(name)
                prev = None
                for n, r, v in attrs:
                    if r:
                        if prev != n:
                            if prev:
                                w.end()
                            w.obj(n)
                            prev = n
                        w.value(r, v)
                    else:
                        if prev:
                            w.end()
                            prev = None
                        w.value(n, v)
                if prev:
                    w.end()
                w.end()
        w.end()
        sys.stdout.write(w.generate())
    else:
        sys.stdout.write("".join(o for o in out if isinstance(o, str)))
    return proto.exit_code(failed)
