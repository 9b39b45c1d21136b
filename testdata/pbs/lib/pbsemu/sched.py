"""The scheduler of the one node: first come, first served, any job that
fits runs (PBS's default strict_ordering=False), and the comments and
estimates pbs_sched leaves on jobs that must wait.

A queued job that does not fit gets
    comment = Not Running: Insufficient amount of resource: ncpus (R: 2 A: 1 T: 2)
and an estimated.start_time from a small calendar of the running jobs'
walltimes (0, printed UNKNOWN, when a job in the way has no walltime); one
that can never fit on the node gets "Can Never Run: ...". Jobs in a stopped
queue (started=False) are not looked at, as pbs_sched skips such queues.
"""

from . import submit, units

RESOURCES = ("ncpus", "mem", "ngpus")


def totals(conf):
    return {"ncpus": conf.node_ncpus, "mem": conf.node_mem_kb, "ngpus": conf.node_ngpus}


def _fmt(res, v):
    return units.fmt_kb(v) if res == "mem" else str(v)


def _short(req, avail):
    for r in RESOURCES:
        if req[r] > avail[r]:
            return r
    return None


def schedule(conf, jobs, now, start_job):
    """One scheduling cycle over jobs (submission order). start_job(job) is
    called for each job that fits. Returns True when any job changed."""
    changed = False
    total = totals(conf)
    free = dict(total)
    running = []
    for j in jobs:
        if j["state"] in ("R", "E"):
            req = submit.job_request(j)
            for r in RESOURCES:
                free[r] -= req[r]
            running.append(j)
    blocked = []
    for j in jobs:
        if j["state"] == "W" and j.get("exec_time") and j["exec_time"] <= now:
            j["state"], j["substate"] = "Q", 10
            j["etime"] = j.get("etime") or now
            j["mtime"] = now
            changed = True
        if j["state"] != "Q":
            continue
        if not conf.queues[j["queue"]].started:
            continue
        req = submit.job_request(j)
        never = _short(req, total)
        short = _short(req, free)
        if never:
            changed |= _comment(j, f"Can Never Run: Insufficient amount of resource: {never} "
                                   f"(R: {_fmt(never, req[never])} A: {_fmt(never, free[never])} "
                                   f"T: {_fmt(never, total[never])})", now)
            j.pop("est_start", None)
            j.pop("est_vnode", None)
        elif short:
            changed |= _comment(j, f"Not Running: Insufficient amount of resource: {short} "
                                   f"(R: {_fmt(short, req[short])} A: {_fmt(short, free[short])} "
                                   f"T: {_fmt(short, total[short])})", now)
            blocked.append(j)
        else:
            for r in RESOURCES:
                free[r] -= req[r]
            start_job(j)
            running.append(j)
            changed = True
    if blocked:
        changed |= _estimate(conf, running, blocked, now, total)
    return changed


def _comment(j, text, now):
    if j.get("comment") == text:
        return False
    j["comment"] = text
    j["mtime"] = now
    return True


def _walltime(j):
    w = j["resources"].get("walltime")
    return units.parse_time(w) if w else None


def _estimate(conf, running, blocked, now, total):
    """Calendars the blocked jobs in order: each gets the earliest time at
    which it fits beside the running jobs and the blocked jobs before it."""
    changed = False
    allocs = []  # (start, end or None for unbounded, request)
    for j in running:
        w = _walltime(j)
        end = max(now, j.get("stime", now) + w) if w is not None else None
        allocs.append((now, end, submit.job_request(j)))
    for j in blocked:
        req = submit.job_request(j)
        w = _walltime(j)
        candidates = sorted({now} | {e for _, e, _ in allocs if e is not None and e >= now})
        est = 0
        for t in candidates:
            if _fits(allocs, req, t, None if w is None else t + w, total):
                est = int(t)
                allocs.append((t, None if w is None else t + w, req))
                break
        vnode = submit.exec_vnode(conf, j)
        if j.get("est_start") != est or j.get("est_vnode") != vnode:
            j["est_start"], j["est_vnode"] = est, vnode
            changed = True
    return changed


def _fits(allocs, req, start, end, total):
    points = [start] + [s for s, _, _ in allocs if s > start and (end is None or s < end)]
    for x in points:
        used = dict.fromkeys(RESOURCES, 0)
        for s, e, r in allocs:
            if s <= x and (e is None or x < e):
                for k in RESOURCES:
                    used[k] += r[k]
        if any(used[k] + req[k] > total[k] for k in RESOURCES):
            return False
    return True
