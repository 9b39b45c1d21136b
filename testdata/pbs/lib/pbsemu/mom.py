"""The MoM half of the daemon: starts a job as its owner, watches its
walltime, kills it, collects its usage and delivers its output.

As pbs_mom does, a job runs as the user's login shell (argv[0] "-bash")
reading the script on standard input, in the user's home directory, in a
session of its own; stdout and stderr go to spool files that are copied to
Output_Path/Error_Path when the job ends (Keep_Files with 'd' writes them
in place instead). Walltime is enforced with SIGTERM, then SIGKILL after
kill_delay, and the job's stderr gets "=>> PBS: job killed: walltime N
exceeded limit M". Every process left in the session is killed at the end.
"""

import errno
import os
import pwd
import secrets
import shutil
import signal

from . import submit, units

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _session_pids(sid):
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st and st["sid"] == sid:
            pids.append(int(name))
    return pids


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may contain anything.
    rest = data[data.rfind(")") + 2:].split()
    return {"ppid": int(rest[1]), "pgid": int(rest[2]), "sid": int(rest[3]),
            "utime": int(rest[11]), "stime": int(rest[12]),
            "cutime": int(rest[13]), "cstime": int(rest[14]),
            "vsize_kb": int(rest[20]) // 1024, "rss_kb": int(rest[21]) * PAGE_KB}


def kill_session(sid, sig, uid):
    """Signals every process of the job's session that runs as the job's
    owner, as the MoM does; a process that started its own session has
    left the job. Checking the uid keeps a recycled session id (after a
    daemon restart) from hitting someone else's processes."""
    for pid in _session_pids(sid):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                os.kill(pid, sig)
        except OSError:
            pass


class Mom:
    def __init__(self, conf, log):
        self.conf = conf
        self.log = log
        self.by_pid = {}  # pid of the job's shell -> job

    # --- starting -------------------------------------------------------

    def start(self, job, script_path, now):
        conf = self.conf
        try:
            pw = pwd.getpwuid(job["uid"])
        except KeyError:
            self._fail_start(job, now, -10)  # JOB_EXEC_FAILUID
            return
        jid = job["id"]
        slots = {r.get("slot") for r in self.by_pid.values()}
        slot = next(i for i in range(len(slots) + 1) if i not in slots)
        job["slot"] = slot
        ncpus = int(job["resources"]["ncpus"])
        hosts = []
        for n, c in job["chunks"]:
            cpus = int(c.get("ncpus", "1"))
            hosts += [f"{conf.node}/{slot}" + (f"*{cpus}" if cpus != 1 else "")] * n
        job["exec_host"] = "+".join(hosts)
        job["exec_vnode"] = submit.exec_vnode(conf, job)
        nodefile = os.path.join(conf.aux_dir, jid)
        with open(nodefile, "w") as f:
            f.write("".join(line + "\n" for line in submit.nodefile_lines(conf, job)))
        os.chmod(nodefile, 0o644)
        tmpdir = self._make_tmpdir(jid, pw)

        env = submit.unescape_varlist(job["variable_list"])
        shell = (job.get("shell") or "").split(",")[0].split("@")[0] or pw.pw_shell or "/bin/sh"
        first = job["chunks"][0][1]
        env.update({
            "HOME": pw.pw_dir, "LOGNAME": pw.pw_name, "USER": pw.pw_name, "SHELL": shell,
            "MAIL": f"/var/mail/{pw.pw_name}", "PATH": "/bin:/usr/bin",
            "PBS_JOBNAME": job["name"], "PBS_JOBID": jid, "PBS_QUEUE": job["queue"],
            "PBS_NODEFILE": nodefile, "PBS_NODENUM": "0", "PBS_TASKNUM": "1",
            "PBS_MOMPORT": "15003", "PBS_ENVIRONMENT": "PBS_BATCH", "ENVIRONMENT": "BATCH",
            "PBS_JOBDIR": pw.pw_dir, "PBS_JOBCOOKIE": secrets.token_hex(16).upper(),
            "TMPDIR": tmpdir, "NCPUS": first.get("ncpus", "1"),
            "OMP_NUM_THREADS": first.get("ompthreads", first.get("ncpus", "1")),
        })
        if job.get("account"):
            env["PBS_ACCOUNT"] = job["account"]

        out_spool, err_spool = self._spool_paths(job)
        spool_fds = {}
        for key, path in (("out", out_spool), ("err", err_spool)):
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                os.fchown(fd, pw.pw_uid, pw.pw_gid)
                spool_fds[key] = fd
        direct = {}
        if "d" in job["keep"]:
            if "o" in job["keep"]:
                direct["out"] = self._dest(job, "out")
            if "e" in job["keep"]:
                direct["err"] = self._dest(job, "err")

        pid = os.fork()
        if pid == 0:
            self._child(job, pw, script_path, shell, env, spool_fds, direct)
        for fd in spool_fds.values():
            os.close(fd)
        job.update({
            "state": "R", "substate": 42, "pid": pid, "session_id": pid, "stime": int(now),
            "start_f": now,
            "mtime": int(now), "jobdir": pw.pw_dir, "run_count": job.get("run_count", 0) + 1,
            "tmpdir": tmpdir, "nodefile": nodefile, "spool": [out_spool, err_spool],
            "comment": f"Job run at {units.run_stamp(now)} on {job['exec_vnode']}",
            "used": {"cpupercent": "0", "cput": "00:00:00", "mem": "0kb",
                     "ncpus": str(ncpus), "vmem": "0kb", "walltime": "00:00:00"},
            "cput_s": 0, "kill_at": None,
        })
        job.pop("est_start", None)
        job.pop("est_vnode", None)
        self.by_pid[pid] = job
        self.log(f"job {jid} started, pid {pid}, user {pw.pw_name}")

    def _child(self, job, pw, script_path, shell, env, spool_fds, direct):
        """Runs in the forked child; never returns."""
        try:
            os.setsid()
            fd = os.open(script_path, os.O_RDONLY)
            os.dup2(fd, 0)
            os.close(fd)
            os.initgroups(pw.pw_name, pw.pw_gid)
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.umask(0o077)
            out = spool_fds.get("out")
            err = spool_fds.get("err")
            for key, path in direct.items():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
                if key == "out":
                    out = fd
                else:
                    err = fd
            if job["join"] == "oe":
                err = out
            elif job["join"] == "eo":
                out = err
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(out if out is not None else devnull, 1)
            os.dup2(err if err is not None else devnull, 2)
            try:
                os.chdir(pw.pw_dir)
            except OSError:
                os.write(2, b"PBS: chdir to home directory failed\n")
                os.chdir("/")
            os.closerange(3, 65536)
            os.execve(shell, ["-" + os.path.basename(shell)], env)
        except BaseException as e:  # report anything, then leave the fork
            try:
                os.write(2, f"PBS: job start failed: {e}\n".encode())
            finally:
                os._exit(254)

    def _make_tmpdir(self, jid, pw):
        path = os.path.join(self.conf.tmpdir, f"pbs.{jid}")
        try:
            os.mkdir(path, 0o700)
            os.lchown(path, pw.pw_uid, pw.pw_gid)
            return path
        except FileExistsError:
            st = os.lstat(path)
            if os.path.isdir(path) and not os.path.islink(path) and st.st_uid == pw.pw_uid:
                return path
        except OSError:
            pass
        return self.conf.tmpdir

    def _spool_paths(self, job):
        spool = self.conf.output_spool
        out = os.path.join(spool, f"{job['id']}.OU")
        err = os.path.join(spool, f"{job['id']}.ER")
        keep = job["keep"] if "d" in job["keep"] else ""
        if "o" in keep:
            out = None
        if "e" in keep:
            err = None
        if job["join"] == "oe":
            err = None
        elif job["join"] == "eo":
            out = None
        return out, err

    def _dest(self, job, which):
        path = (job["output_path"] if which == "out" else job["error_path"]).split(":", 1)[-1]
        return submit.default_dir_target(path, job["name"], job["seq"], "o" if which == "out" else "e")

    def _fail_start(self, job, now, status):
        job.update({"state": "F", "substate": 93, "exit_status": status,
                    "mtime": int(now)})

    # --- running ----------------------------------------------------------

    def enforce(self, now):
        """Walltime limits and the SIGKILL that follows SIGTERM."""
        for job in list(self.by_pid.values()):
            if job.get("kill_at") is not None:
                if now >= job["kill_at"]:
                    kill_session(job["session_id"], signal.SIGKILL, job["uid"])
                    job["kill_at"] = now + 3600  # once is enough; reaping follows
                continue
            limit = job["resources"].get("walltime")
            if not limit:
                continue
            # The MoM counts whole seconds, so a 3 s limit kills at 4 s.
            used = int(now - job["start_f"])
            lim = units.parse_time(limit)
            if used > lim:
                job["killed_for"] = "walltime"
                job["kill_msg"] = f"job killed: walltime {used} exceeded limit {lim}"
                self._stderr_note(job, f"=>> PBS: {job['kill_msg']}\n")
                self.terminate(job, now)
                self.log(f"job {job['id']}: {job['kill_msg']}")

    def terminate(self, job, now, force=False):
        if force:
            kill_session(job["session_id"], signal.SIGKILL, job["uid"])
            job["kill_at"] = now + 3600
        else:
            kill_session(job["session_id"], signal.SIGTERM, job["uid"])
            job["kill_at"] = now + self.conf.kill_delay

    def _stderr_note(self, job, text):
        out, err = job.get("spool") or (None, None)
        path = err or out
        if path is None:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError:
            pass

    def sample(self, now):
        """resources_used, as the MoM's periodic polling fills it in."""
        if not self.by_pid:
            return False
        sessions = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(int(name))
                if st:
                    sessions.setdefault(st["sid"], []).append((int(name), st))
        for pid, job in self.by_pid.items():
            procs = sessions.get(job["session_id"], [])
            ticks = sum(st["utime"] + st["stime"] for _, st in procs)
            ticks += sum(st["cutime"] + st["cstime"] for p, st in procs if p == pid)
            job["cput_s"] = max(job.get("cput_s", 0), ticks // CLK_TCK)
            mem = sum(st["rss_kb"] for _, st in procs)
            vmem = sum(st["vsize_kb"] for _, st in procs)
            self._set_used(job, now, mem, vmem)
        return True

    def _set_used(self, job, now, mem=None, vmem=None):
        wall = max(0, int(now - job.get("start_f", job["stime"])))
        used = job["used"]
        used["walltime"] = units.fmt_time(wall)
        used["cput"] = units.fmt_time(job["cput_s"])
        used["cpupercent"] = str(int(job["cput_s"] * 100 / wall) if wall else 0)
        if mem is not None:
            used["mem"] = f"{max(mem, int(used['mem'][:-2]))}kb"
            used["vmem"] = f"{max(vmem, int(used['vmem'][:-2]))}kb"

    # --- ending -------------------------------------------------------------

    def reap(self, now, finished):
        """Collects exited jobs; calls finished(job) for each."""
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.by_pid.pop(pid, None)
            if job is None:
                continue
            kill_session(job["session_id"], signal.SIGKILL, job["uid"])
            job["cput_s"] = max(job.get("cput_s", 0), int(rusage.ru_utime + rusage.ru_stime))
            self._set_used(job, now, rusage.ru_maxrss, 0)
            if job.get("killed_for") == "walltime":
                job["exit_status"] = -29  # JOB_EXEC_KILL_WALLTIME
            elif os.WIFSIGNALED(status):
                job["exit_status"] = 256 + os.WTERMSIG(status)
            else:
                job["exit_status"] = os.WEXITSTATUS(status)
            self._stage_out(job)
            finished(job)

    def _stage_out(self, job):
        """Copies the spool files to their destinations as the job owner,
        and removes the job's TMPDIR; what cannot be delivered is kept in
        spool/undelivered, as PBS does."""
        out, err = job.get("spool") or (None, None)
        pairs = [(p, self._dest(job, w)) for p, w in ((out, "out"), (err, "err")) if p]
        tmpdir = job.get("tmpdir")
        if tmpdir == self.conf.tmpdir:
            tmpdir = None
        fds = []  # aligned with pairs; None where the spool file is missing
        for src, _ in pairs:
            try:
                fds.append(os.open(src, os.O_RDONLY | os.O_NOFOLLOW))
            except OSError:
                fds.append(None)
        pid = os.fork()
        if pid == 0:
            # The exit status has one bit per file that could not be copied.
            code = 0
            try:
                os.initgroups(job["user"], job["gid"])
                os.setgid(job["gid"])
                os.setuid(job["uid"])
                os.umask(0o077)
                for i, (fd, (_, dest)) in enumerate(zip(fds, pairs)):
                    if fd is None:
                        continue
                    try:
                        with open(dest, "wb") as f, os.fdopen(fd, "rb") as src:
                            shutil.copyfileobj(src, f)
                    except OSError:
                        code |= 1 << i
                if tmpdir:
                    shutil.rmtree(tmpdir, ignore_errors=True)
            except BaseException:
                code = 0xFF
            os._exit(code)
        for fd in fds:
            if fd is not None:
                os.close(fd)
        _, status = _waitpid(pid)
        failed = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0xFF
        for i, (src, _) in enumerate(pairs):
            if fds[i] is None:
                continue
            if not failed & (1 << i):
                _unlink(src)
            else:
                undelivered = os.path.join(self.conf.home, "spool", "undelivered")
                os.makedirs(undelivered, mode=0o700, exist_ok=True)
                try:
                    os.rename(src, os.path.join(undelivered, os.path.basename(src)))
                except OSError:
                    pass
        _unlink(job.get("nodefile"))


def _waitpid(pid):
    while True:
        try:
            return os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return pid, 0


def _unlink(path):
    if not path:
        return
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
