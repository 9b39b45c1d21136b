"""pbs_server: the daemon, run as root in the foreground.

One loop, every 50 ms: answer requests from spool/incoming, reap finished
jobs, enforce walltimes, schedule, purge old history, and save
server_priv/state.json (atomically: qstat reads it) when anything changed.
Jobs found running when the daemon starts (it was killed) are killed and
requeued, as PBS requeues rerunnable jobs at server initialisation; a
stopped daemon (SIGTERM) does the same before it exits.
"""

import fcntl
import json
import os
import pwd
import re
import signal
import stat
import sys
import time
import traceback

from . import conf as pbsconf
from . import mom as pbsmom
from . import proto, sched, submit, units

POLL = 0.05
SAMPLE_EVERY = 2.0
REPLY_TTL = 120
MAX_REQUEST = 110 * 1024 * 1024
TOKEN = re.compile(r"^[0-9a-f]{32}$")


def log(msg):
    sys.stderr.write(time.strftime("%m/%d/%Y %H:%M:%S") + f";pbs_server;{msg}\n")
    sys.stderr.flush()


class Server:
    def __init__(self, conf):
        self.conf = conf
        self.jobs = {}  # seq -> job, in submission order
        self.next_seq = 0
        self.dirty = True
        self.mom = pbsmom.Mom(conf, log)
        self.stop = False

    # --- files ------------------------------------------------------------

    def setup(self):
        c = self.conf
        for path, mode in ((c.home, 0o755), (c.server_priv, 0o755), (c.scripts_dir, 0o700),
                           (os.path.join(c.home, "spool"), 0o755), (c.incoming_dir, 0o1733),
                           (c.replies_dir, 0o711), (c.output_spool, 0o700), (c.aux_dir, 0o755)):
            os.makedirs(path, exist_ok=True)
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                raise SystemExit(f"pbs_server: {path} is not a directory")
            os.chown(path, 0, 0)
            os.chmod(path, mode)

    def lock(self):
        fd = os.open(self.conf.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("pbs_server: another server is running") from None
        self._lock_fd = fd

    def load(self):
        try:
            with open(self.conf.state_file, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        self.next_seq = data.get("next_seq", 0)
        for j in data.get("jobs", []):
            self.jobs[j["seq"]] = j
        now = time.time()
        for j in list(self.jobs.values()):
            if j["state"] in ("R", "E"):
                self._kill_orphan(j)
                self._requeue(j, now, "Requeued in queue: " + j["queue"])

    def save(self):
        c = self.conf
        tmp = c.state_file + ".tmp"
        body = {"server": c.server, "next_seq": self.next_seq,
                "jobs": list(self.jobs.values())}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f)
        os.chmod(tmp, 0o644)
        os.rename(tmp, c.state_file)
        self.dirty = False

    def write_pid(self):
        tmp = self.conf.pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.conf.pid_file)

    def script_path(self, job):
        return os.path.join(self.conf.scripts_dir, f"{job['seq']}.SC")

    # --- requests -----------------------------------------------------------

    def handle_requests(self):
        try:
            entries = list(os.scandir(self.conf.incoming_dir))
        except OSError:
            return
        now = time.time()
        replies = []
        for e in entries:
            token = e.name[:-4]
            if not e.name.endswith(".req") or not TOKEN.match(token):
                # Leftovers of a command killed before its rename.
                try:
                    if now - e.stat(follow_symlinks=False).st_mtime > REPLY_TTL:
                        os.unlink(e.path)
                except OSError:
                    pass
                continue
            req, uid = self._read_request(e.path)
            if req is None:
                continue
            try:
                reply = self.dispatch(uid, req, now)
            except Exception as exc:  # a bad request must not stop the server
                log(f"request from uid {uid} failed: {exc!r}")
                reply = {"errno": proto.SYSTEM, "msg": proto.MESSAGES[proto.SYSTEM] + str(exc)}
            replies.append((token, uid, reply))
        # Publish the new state before answering: a qstat run right after
        # qsub returns must already see the job.
        if self.dirty:
            self.save()
        for token, uid, reply in replies:
            try:
                self._write_reply(token, uid, reply)
            except OSError as exc:
                log(f"cannot reply to uid {uid}: {exc!r}")

    def _read_request(self, path):
        """Opens a request without following links and takes the caller's
        identity from the file's owner: the kernel's word, not the
        request's."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            _unlink(path)
            return None, None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > MAX_REQUEST:
                return None, None
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
            try:
                req = json.loads(b"".join(chunks))
            except ValueError:
                return None, None
            return (req if isinstance(req, dict) else None), st.st_uid
        finally:
            os.close(fd)
            _unlink(path)

    def _write_reply(self, token, uid, reply):
        final = os.path.join(self.conf.replies_dir, f"{token}.json")
        tmp = final + ".tmp"
        _unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
        try:
            os.write(fd, json.dumps(reply).encode())
            os.fchown(fd, uid, -1)
        finally:
            os.close(fd)
        os.rename(tmp, final)

    def purge_replies(self, now):
        for e in os.scandir(self.conf.replies_dir):
            try:
                if now - e.stat(follow_symlinks=False).st_mtime > REPLY_TTL:
                    os.unlink(e.path)
            except OSError:
                pass

    def dispatch(self, uid, req, now):
        op = req.get("op")
        if op == "submit":
            return self.submit(uid, req, now)
        ids = req.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return {"errno": proto.IVALREQ, "msg": proto.MESSAGES[proto.IVALREQ]}
        if op == "delete":
            fn = lambda j: self.delete(j, uid, now, bool(req.get("force")),  # noqa: E731
                                       bool(req.get("deletehist")))
        elif op in ("hold", "release"):
            types = str(req.get("hold") or "u")
            if not set(types) <= set("uosn"):
                return {"errno": proto.BADATVAL, "msg": proto.MESSAGES[proto.BADATVAL]}
            if uid != 0 and set(types) & set("os"):
                return {"results": [[i, proto.PERM, proto.MESSAGES[proto.PERM]] for i in ids]}
            fn = (lambda j: self.hold(j, uid, now, types)) if op == "hold" else \
                (lambda j: self.release(j, uid, now, types))
        else:
            return {"errno": proto.IVALREQ, "msg": proto.MESSAGES[proto.IVALREQ]}
        results = []
        for jid in ids:
            job = self.find(jid)
            if job is None:
                code = proto.UNKJOBID
            elif uid != 0 and uid != job["uid"]:
                code = proto.PERM
            elif job["state"] == "F" and not (op == "delete" and req.get("deletehist")):
                code = proto.HISTJOBID
            else:
                code = fn(job)
            results.append([jid, code, proto.MESSAGES.get(code, "") if code else ""])
        return {"results": results}

    def find(self, jid):
        try:
            seq, array, server = units.parse_jobid(jid)
        except units.UnitError:
            return None
        job = self.jobs.get(seq)
        if job is None or array:
            return None
        if server and not (server == self.conf.server or self.conf.server.startswith(server + ".")
                           or server.startswith(self.conf.server + ".")):
            return None
        return job

    # --- operations -------------------------------------------------------

    def submit(self, uid, req, now):
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            return {"errno": proto.BADUSER, "msg": proto.MESSAGES[proto.BADUSER]}
        seq = self._take_seq()
        try:
            job, script = submit.make_job(self.conf, seq, pw, req, now)
        except submit.Refused as e:
            return {"errno": e.errno, "msg": e.msg}
        path = self.script_path(job)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(script)
        self.jobs[seq] = job
        self.next_seq = seq + 1 if seq < self.conf.max_seq else 0
        self.dirty = True
        log(f"job {job['id']} queued for {pw.pw_name} in {job['queue']}")
        return {"jobid": job["id"]}

    def _take_seq(self):
        seq = self.next_seq
        for _ in range(self.conf.max_seq + 1):
            if seq not in self.jobs:
                return seq
            seq = seq + 1 if seq < self.conf.max_seq else 0
        raise RuntimeError("no free job sequence number")

    def delete(self, job, uid, now, force, deletehist):
        if deletehist:
            job["delete_history"] = True
        if job["state"] == "F":
            self._forget(job)
            return 0
        if job["state"] == "E" and not force:
            return proto.BADSTATE
        job["terminated"] = True
        self.dirty = True
        if job["state"] in ("R", "E"):
            job["state"], job["substate"], job["mtime"] = "E", 50, int(now)
            if force and uid == 0:
                job["exit_status"] = 256 + signal.SIGKILL
            self.mom.terminate(job, now, force)
            return 0
        self._finish(job, now)
        return 0

    def hold(self, job, uid, now, types):
        if types == "n":
            return 0
        cur = "" if job["hold"] == "n" else job["hold"]
        job["hold"] = "".join(t for t in "uos" if t in cur or t in types)
        job["comment"] = f"Job held by {pwd.getpwuid(uid).pw_name if uid else 'root'} " \
                         f"on {units.ctime(now)}"
        if job["state"] in ("Q", "W"):
            job["state"], job["substate"] = "H", 20
            job.pop("est_start", None)
            job.pop("est_vnode", None)
        job["mtime"] = int(now)
        self.dirty = True
        return 0

    def release(self, job, uid, now, types):
        cur = "" if job["hold"] == "n" else job["hold"]
        left = "".join(t for t in cur if t not in types)
        if left == cur:
            return 0
        job["hold"] = left or "n"
        if not left:
            job.pop("comment", None)
            if job["state"] == "H":
                if job.get("exec_time") and job["exec_time"] > now:
                    job["state"], job["substate"] = "W", 30
                else:
                    job["state"], job["substate"] = "Q", 10
                    job["etime"] = job.get("etime") or int(now)
        job["mtime"] = int(now)
        self.dirty = True
        return 0

    def _finish(self, job, now):
        """Moves an ended or deleted job to history (F) or forgets it."""
        now = int(now)
        ran = job.get("stime") is not None and job["state"] in ("R", "E")
        if job.get("terminated"):
            sub, word = 91, "terminated"
        elif job.get("exit_status", 0) == 0:
            sub, word = 92, "finished"
        else:
            sub, word = 93, "failed"
        if job.get("killed_for") == "walltime":
            job["comment"] = job["kill_msg"]
        elif ran and (job.get("comment") or "").startswith("Job run at"):
            job["comment"] = f"{job['comment']} and {word}"
        if ran:
            job["obittime"] = now
        job.update({"state": "F", "substate": sub, "mtime": now, "history_timestamp": now})
        for key in ("pid", "kill_at", "spool", "est_start", "est_vnode", "start_f"):
            job.pop(key, None)
        _unlink(self.script_path(job))
        if not self.conf.history_enable or job.get("delete_history"):
            self._forget(job)
        self.dirty = True
        log(f"job {job['id']} ended: substate {sub}, Exit_status {job.get('exit_status')}")

    def _forget(self, job):
        self.jobs.pop(job["seq"], None)
        _unlink(self.script_path(job))
        self.dirty = True

    def _requeue(self, job, now, comment):
        for key in ("exec_host", "exec_vnode", "session_id", "stime", "start_f", "pid",
                    "kill_at", "spool", "used", "jobdir", "slot", "killed_for", "kill_msg",
                    "terminated", "exit_status"):
            job.pop(key, None)
        if job.get("rerunable") == "True":
            job.update({"state": "Q", "substate": 10, "comment": comment, "mtime": int(now)})
        else:
            job["exit_status"] = -4  # JOB_EXEC_INITABT: aborted on MoM initialisation
            job["state"] = "R"
            self._finish(job, now)
        self.dirty = True

    def _kill_orphan(self, job):
        sid = job.get("session_id")
        if sid:
            pbsmom.kill_session(sid, signal.SIGKILL, job["uid"])
        for p in job.get("spool") or []:
            _unlink(p)

    def purge_history(self, now):
        for job in list(self.jobs.values()):
            if job["state"] == "F" and now - job.get("history_timestamp", now) > \
                    self.conf.history_duration:
                self._forget(job)

    # --- loop ---------------------------------------------------------------

    def run(self):
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.save()  # clients take the pid file as "up" and then read the state
        self.write_pid()
        log(f"server {self.conf.server} ready, pid {os.getpid()}, home {self.conf.home}")
        self.last_sample = self.last_purge = 0.0
        while not self.stop:
            try:
                self.cycle(time.time())
            except Exception:  # keep serving; the log says what went wrong
                log("cycle failed: " + traceback.format_exc().replace("\n", " | "))
            time.sleep(POLL)
        self.shutdown()

    def cycle(self, now):
        self.handle_requests()
        self.mom.reap(now, lambda j: self._finish(j, now))
        self.mom.enforce(now)
        if sched.schedule(self.conf, list(self.jobs.values()), int(now), self._start):
            self.dirty = True
        if now - self.last_sample >= SAMPLE_EVERY:
            self.last_sample = now
            if self.mom.sample(now):
                self.dirty = True
        if now - self.last_purge >= 10:
            self.last_purge = now
            self.purge_history(now)
            self.purge_replies(now)
        if self.dirty:
            self.save()

    def _start(self, job):
        now = time.time()
        try:
            self.mom.start(job, self.script_path(job), now)
        except OSError as e:
            # The MoM could not start it (JOB_EXEC_FAIL1): end it rather
            # than retry every cycle.
            log(f"job {job['id']} could not start: {e!r}")
            job.update({"state": "F", "exit_status": -1,
                        "comment": f"job start failed: {e.strerror or e}"})
        if job["state"] == "F":
            self._finish(job, now)

    def _on_signal(self, signum, frame):
        self.stop = True

    def shutdown(self):
        """Kills the running jobs and requeues them, like a server and MoM
        going down together; then removes the pid file."""
        running = list(self.mom.by_pid.values())
        for job in running:
            pbsmom.kill_session(job["session_id"], signal.SIGTERM, job["uid"])
        deadline = time.monotonic() + 5
        while self.mom.by_pid and time.monotonic() < deadline:
            self._reap_quietly()
            time.sleep(0.05)
        for job in list(self.mom.by_pid.values()):
            pbsmom.kill_session(job["session_id"], signal.SIGKILL, job["uid"])
        while self.mom.by_pid and time.monotonic() < deadline + 5:
            self._reap_quietly()
            time.sleep(0.05)
        now = time.time()
        for job in running:
            _unlink(job.get("nodefile"))
            for p in job.get("spool") or []:
                _unlink(p)
            if job["seq"] in self.jobs and job["state"] != "F":
                self._requeue(job, now, "Requeued in queue: " + job["queue"])
        self.save()
        _unlink(self.conf.pid_file)
        log("server shut down")

    def _reap_quietly(self):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.mom.by_pid.pop(pid, None)


def _unlink(path):
    if not path:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _become_subreaper():
    """Job processes that outlive their shell are reparented to the daemon
    (PR_SET_CHILD_SUBREAPER) so that it reaps them: in a container whose
    init does not reap, they would otherwise stay zombies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv):
    if len(argv) == 2 and argv[1] == "--version":
        from . import PBS_VERSION
        print(f"pbs_version = {PBS_VERSION}")
        return 0
    if os.geteuid() != 0:
        sys.stderr.write("pbs_server: must be run by root\n")
        return 1
    path = pbsconf.find(argv[0])
    try:
        conf = pbsconf.load(path)
    except (OSError, pbsconf.ConfError) as e:
        sys.stderr.write(f"pbs_server: {e}\n")
        return 1
    _become_subreaper()
    srv = Server(conf)
    srv.setup()
    srv.lock()
    srv.load()
    srv.run()
    return 0
