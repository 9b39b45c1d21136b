"""Turns a qsub request into a job record, or into PBS's refusal.

The checks follow where PBS makes them: first the values the IFL layer
verifies (job name, -j/-k/-m/-p values, typed resource values), then the
server (unknown queue, root, unknown resources, select/place rules, queue
limits). The request's user is the uid the kernel reported, never a name
the request carries.
"""

import os
import re
import socket
import time

from . import proto, units


class Refused(Exception):
    def __init__(self, errno, msg):
        super().__init__(msg)
        self.errno = errno
        self.msg = msg


def _illegal(opt):
    # qsub.c handle_attribute_errors(): "illegal -X value", exit 2, usage.
    return Refused(2, f"illegal -{opt} value")


HOST_LEVEL = {"ncpus", "mem", "vmem", "ngpus", "mpiprocs", "ompthreads", "naccelerators"}
MAX_JOBNAME = 236


def _check_values(a):
    name = a.get("Job_Name", "")
    if len(name) > MAX_JOBNAME:
        raise Refused(2, "Job name is too long ")
    if not name or not all("!" <= c <= "~" for c in name):
        raise _illegal("N")
    if a.get("Join_Path", "n") not in ("oe", "eo", "n"):
        raise _illegal("j")
    keep = a.get("Keep_Files", "n")
    if keep != "n" and (not keep or not set(keep) <= set("oed")):
        raise _illegal("k")
    mail = a.get("Mail_Points", "a")
    if mail != "n" and (not mail or not set(mail) <= set("abej")):
        raise _illegal("m")
    try:
        prio = int(a.get("Priority", "0"))
    except ValueError:
        raise _illegal("p") from None
    if not -1024 <= prio <= 1023:
        raise _illegal("p")
    if a.get("Hold_Types", "n") not in ("n", "u"):
        raise _illegal("h")
    if "Execution_Time" in a and not a["Execution_Time"].isdigit():
        raise _illegal("a")
    for key in ("Output_Path", "Error_Path"):
        if key in a and ":" not in a[key]:
            raise _illegal("o" if key == "Output_Path" else "e")


def _resources(pairs, queue):
    """Validates -l resources and derives Resource_List as the server
    does: totals from select, an implied select for old-style requests,
    queue defaults, nodect and place. Returns (resources, chunks)."""
    given = {}
    # IFL verifies the values of the resources it knows first...
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise Refused(proto.BADATVAL, proto.MESSAGES[proto.BADATVAL])
        if units.known_resource(name):
            try:
                if name == "select":
                    units.parse_select(value)
                elif name == "place":
                    units.check_place(value)
                elif name == "nodes":
                    _nodes(value)
                else:
                    units.canonical_resource(name, value)
            except units.UnknownResource as e:
                raise Refused(proto.UNKRESC, f"{proto.MESSAGES[proto.UNKRESC]} Resource_List.{e}")
            except units.UnitError:
                raise Refused(proto.BADATVAL, proto.MESSAGES[proto.BADATVAL]) from None
        given[name] = value
    # ...and the server rejects the ones it does not define.
    for name in given:
        if not units.known_resource(name):
            raise Refused(proto.UNKRESC, f"{proto.MESSAGES[proto.UNKRESC]} Resource_List.{name}")
    res = {}
    if "select" in given:
        for name in given:
            if name in HOST_LEVEL or name == "nodes":
                raise Refused(proto.INVALJOBRESC, f"{proto.MESSAGES[proto.INVALJOBRESC]}: {name}")
        chunks = units.parse_select(given["select"])
        res["select"] = given["select"]
        res["place"] = given.get("place", "free")
    elif "place" in given:
        raise Refused(15111, 'Cannot have "place" without "select"')
    elif "nodes" in given:
        count, ppn = _nodes(given["nodes"])
        chunks = [(count, {"ncpus": str(ppn)})]
        res["nodes"] = given["nodes"]
        res["select"] = f"{count}:ncpus={ppn}"
        res["place"] = "scatter"
    else:
        chunk = {k: units.canonical_resource(k, v) for k, v in given.items() if k in HOST_LEVEL}
        if "ncpus" not in chunk:
            chunk = {"ncpus": "1", **chunk}
        chunks = [(1, chunk)]
        res["select"] = "1:" + ":".join(f"{k}={given.get(k, v)}" for k, v in chunk.items())
        res["place"] = "pack"
    for name, value in given.items():
        if name not in ("select", "place", "nodes") and name not in HOST_LEVEL:
            res[name] = units.canonical_resource(name, value)
    res["ncpus"] = str(sum(n * int(c.get("ncpus", "1")) for n, c in chunks))
    res["nodect"] = str(sum(n for n, _ in chunks))
    for name in ("ngpus", "mpiprocs", "ompthreads", "naccelerators"):
        if any(name in c for _, c in chunks):
            res[name] = str(sum(n * int(c.get(name, "0")) for n, c in chunks))
    for name in ("mem", "vmem"):
        sizes = [units.parse_size(c[name]) for n, c in chunks for _ in range(n) if name in c]
        if sizes:
            res[name] = units.fmt_size(*units.sum_sizes(sizes))
    for name, value in queue.resources_default.items():
        res.setdefault(name, value)
    return res, chunks


def _nodes(spec):
    m = re.fullmatch(r"(\d+)(?::ppn=(\d+))?", spec)
    if not m or int(m.group(1)) < 1:
        raise units.UnitError(spec)
    return int(m.group(1)), int(m.group(2) or 1)


def _exceeds(res, queue):
    for name, limit in queue.resources_max.items():
        if name not in res:
            continue
        v = res[name]
        if name in units.TIME_RES:
            over = units.parse_time(v) > units.parse_time(limit)
        elif name in units.SIZE_RES:
            over = units.parse_size_kb(v) > units.parse_size_kb(limit)
        elif name in units.LONG_RES:
            over = int(v) > int(limit)
        else:
            over = False
        if over:
            return True
    return False


def _workdir(varlist):
    for item in re.split(r"(?<!\\),", varlist):
        if item.startswith("PBS_O_WORKDIR="):
            return item[len("PBS_O_WORKDIR="):].replace("\\,", ",")
    return "/"


def make_job(conf, seq, pw, req, now=None):
    """Validates request req from user pw (a pwd entry) and returns the new
    job record and its script. Raises Refused."""
    now = int(now or time.time())
    if pw.pw_uid == 0:
        raise Refused(proto.BADUSER, proto.MESSAGES[proto.BADUSER])
    a = req.get("attrs")
    if not isinstance(a, dict) or not all(isinstance(v, str) for v in a.values()):
        raise Refused(proto.IVALREQ, proto.MESSAGES[proto.IVALREQ])
    _check_values(a)
    qname = req.get("queue") or conf.default_queue
    queue = conf.queues.get(qname)
    if queue is None:
        raise Refused(proto.UNKQUE, proto.MESSAGES[proto.UNKQUE])
    if req.get("interactive") or "array_indices_submitted" in a:
        raise Refused(proto.NOSUP, proto.MESSAGES[proto.NOSUP])
    other = req.get("other") or {}
    if str(other.get("block", "false")).lower() == "true":
        raise Refused(proto.NOSUP, proto.MESSAGES[proto.NOSUP])
    res, chunks = _resources(req.get("resources") or [], queue)
    if not queue.enabled:
        raise Refused(proto.QUNOENB, proto.MESSAGES[proto.QUNOENB])
    if _exceeds(res, queue):
        raise Refused(proto.EXCQRESC, proto.MESSAGES[proto.EXCQRESC])

    host = socket.gethostname()
    jobid = f"{seq}.{conf.server}"
    name = a["Job_Name"]
    varlist = str(req.get("variable_list") or "")
    workdir = _workdir(varlist)
    hold = a.get("Hold_Types", "n")
    exec_time = int(a["Execution_Time"]) if "Execution_Time" in a else None
    if hold != "n":
        state, sub = "H", 20
    elif exec_time and exec_time > now:
        state, sub = "W", 30
    else:
        state, sub = "Q", 10
    job = {
        "seq": seq, "id": jobid, "name": name, "server": conf.server,
        "user": pw.pw_name, "uid": pw.pw_uid, "gid": pw.pw_gid, "home": pw.pw_dir,
        "login_shell": pw.pw_shell or "/bin/sh", "host": host, "workdir": workdir,
        "queue": qname, "state": state, "substate": sub,
        "account": a.get("Account_Name"), "project": a.get("project"),
        "checkpoint": a.get("Checkpoint", "u"), "hold": hold,
        "join": a.get("Join_Path", "n"), "keep": a.get("Keep_Files", "n"),
        "mail_points": a.get("Mail_Points", "a"), "mail_users": a.get("Mail_Users"),
        "priority": str(int(a.get("Priority", "0"))),
        "rerunable": "False" if a.get("Rerunable") == "n" else "True",
        "output_path": a.get("Output_Path") or f"{host}:{workdir}/{name}.o{seq}",
        "error_path": a.get("Error_Path") or f"{host}:{workdir}/{name}.e{seq}",
        "shell": a.get("Shell_Path_List"),
        "exec_time": exec_time,
        "resources": res,
        "chunks": [[n, c] for n, c in chunks],
        "ctime": now, "qtime": now, "mtime": now,
        "etime": now if state == "Q" else None,
        "variable_list": f"{varlist},PBS_O_QUEUE={qname},PBS_O_HOST={host}",
        "submit_args": req.get("submit_args") or None,
        "depend": other.get("depend"), "group_list": other.get("group_list"),
        "other_attrs": sorted((k, str(v)) for k, v in other.items()
                              if k not in ("depend", "group_list", "block")),
    }
    script = req.get("script") or ""
    exe = req.get("executable")
    if exe:
        args = [str(x) for x in req.get("arguments") or []]
        job["executable"] = f"<jsdl-hpcpa:Executable>{exe}</jsdl-hpcpa:Executable>"
        if args:
            job["argument_list"] = "".join(f"<jsdl-hpcpa:Argument>{x}</jsdl-hpcpa:Argument>"
                                           for x in args)
        script = "exec " + " ".join(_shquote(x) for x in [exe] + args) + "\n"
    return job, script


def _shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def job_request(job):
    """What the job occupies on the node while it runs."""
    ncpus = mem = ngpus = 0
    for n, c in job["chunks"]:
        ncpus += n * int(c.get("ncpus", "1"))
        ngpus += n * int(c.get("ngpus", "0"))
        if "mem" in c:
            mem += n * units.parse_size_kb(c["mem"])
    return {"ncpus": ncpus, "mem": mem, "ngpus": ngpus}


def exec_vnode(conf, job):
    parts = []
    for n, c in job["chunks"]:
        desc = f"ncpus={c.get('ncpus', '1')}"
        if "mem" in c:
            desc += f":mem={units.parse_size_kb(c['mem'])}kb"
        if "ngpus" in c:
            desc += f":ngpus={c['ngpus']}"
        parts += [f"({conf.node}:{desc})"] * n
    return "+".join(parts)


def nodefile_lines(conf, job):
    lines = []
    for n, c in job["chunks"]:
        lines += [conf.node] * (n * int(c.get("mpiprocs", "1")))
    return lines


def unescape_varlist(varlist):
    """Variable_List items as the MoM exports them: split at unescaped
    commas, backslash escapes removed."""
    out, cur, i = [], [], 0
    while i < len(varlist):
        c = varlist[i]
        if c == "\\" and i + 1 < len(varlist):
            cur.append(varlist[i + 1])
            i += 2
            continue
        if c == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    env = {}
    for item in out:
        k, eq, v = item.partition("=")
        if eq and k:
            env[k] = v
    return env


def default_dir_target(path, jobname, seq, suffix):
    if os.path.isdir(path):
        return os.path.join(path, f"{jobname}.{suffix}{seq}")
    return path
