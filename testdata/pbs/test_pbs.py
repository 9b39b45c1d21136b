"""End-to-end tests of the OpenPBS stand-in: a private daemon in a temporary
state directory, driven through the real commands as real users (alice,
bob) with runuser. Run as root, from testdata/pbs:

    python3 -m unittest -v test_pbs

The users come from testdata/cluster/users.sh, which is run when alice is
missing. Nothing outside the temporary directory and the users' scratch
directories (removed afterwards) is touched.
"""

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
USERS_SH = os.path.join(HERE, "..", "cluster", "users.sh")
SERVER = "pbsserver"
JOBID = re.compile(r"^\d+\.pbsserver$")
WAIT = 60  # seconds a job may take to reach a state; only a bound, never measured


def setUpModule():
    if os.geteuid() != 0:
        raise RuntimeError("test_pbs must run as root (it starts a root daemon and uses runuser)")
    try:
        pwd.getpwnam("alice")
        pwd.getpwnam("bob")
    except KeyError:
        subprocess.run([USERS_SH, "/tmp/hpcgate-cluster/pbs/bin"], check=True)


class Cluster:
    """One installed stand-in: STATE/pbs with its own daemon."""

    def __init__(self, **settings):
        self.state = tempfile.mkdtemp(prefix="pbs-test-")
        os.chmod(self.state, 0o755)
        self.tmpdir = os.path.join(self.state, "jobtmp")
        os.mkdir(self.tmpdir)
        os.chmod(self.tmpdir, 0o1777)
        env = dict(os.environ, PBS_KILL_DELAY="2", PBS_TMPDIR=self.tmpdir, **settings)
        subprocess.run([os.path.join(HERE, "install.sh"), self.state], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        self.home = os.path.join(self.state, "pbs")
        self.scratch = []
        self.default_dirs = {}

    def start(self):
        subprocess.run([os.path.join(HERE, "start.sh"), self.state], check=True)

    def stop(self):
        subprocess.run([os.path.join(HERE, "stop.sh"), self.state], check=True)

    def close(self):
        self.stop()
        for d in self.scratch:
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def bin(self, cmd):
        return os.path.join(self.home, "bin", cmd)

    def workdir(self, user):
        """A scratch directory in user's home: jobs write their output there."""
        pw = pwd.getpwnam(user)
        d = os.path.join(pw.pw_dir, f".pbs-test-{secrets.token_hex(4)}")
        os.mkdir(d, 0o755)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        self.scratch.append(d)
        return d

    def run(self, user, cmd, *args, stdin="", cwd=None):
        """Runs a command as user with a login-like environment, by default
        in a scratch directory of theirs, where the jobs' output lands."""
        pw = pwd.getpwnam(user)
        if cwd is None:
            if user not in self.default_dirs:
                self.default_dirs[user] = self.workdir(user)
            cwd = self.default_dirs[user]
        env = ["env", "-i", f"HOME={pw.pw_dir}", f"USER={user}", f"LOGNAME={user}",
               "PATH=/usr/bin:/bin", "SHELL=/bin/bash", "LANG=C.UTF-8"]
        argv = ["runuser", "-u", user, "--"] + env + [self.bin(cmd), *args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              cwd=cwd, timeout=WAIT)

    def submit(self, user, script, *args, cwd=None):
        r = self.run(user, "qsub", *args, stdin=script, cwd=cwd)
        if r.returncode != 0:
            raise AssertionError(f"qsub {args}: exit {r.returncode}: {r.stderr}")
        jid = r.stdout.strip()
        if not JOBID.match(jid):
            raise AssertionError(f"qsub printed {r.stdout!r}")
        return jid

    def status(self, jid):
        """The job as `qstat -f -F json -x` shows it (as root)."""
        r = subprocess.run([self.bin("qstat"), "-f", "-F", "json", "-x", jid],
                           capture_output=True, text=True, timeout=WAIT)
        if r.returncode != 0:
            raise AssertionError(f"qstat {jid}: exit {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)["Jobs"][jid]

    def wait(self, jid, states):
        deadline = time.monotonic() + WAIT
        while True:
            job = self.status(jid)
            if job["job_state"] in states:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"{jid} still {job['job_state']}, want {states}")
            time.sleep(0.1)


def session_alive(sid):
    """True while any live (not zombie) process of session sid exists."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                return True
    return False


class StandInTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster()
        cls.c.start()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def test_held_job_runs_as_its_owner_after_qrls(self):
        c = self.c
        wd = c.workdir("alice")
        script = "#!/bin/bash\n#PBS -N whoami\nid -un > \"$PBS_O_WORKDIR/who\"\n" \
                 "echo \"job $PBS_JOBID in $PWD tmp=$TMPDIR\"\necho oops >&2\n"
        jid = c.submit("alice", script, "-h", cwd=wd)
        seq = jid.split(".")[0]
        time.sleep(0.5)  # give the scheduler cycles in which it must not start the job
        job = c.status(jid)
        self.assertEqual((job["job_state"], job["Hold_Types"], job["substate"]), ("H", "u", 20))
        self.assertFalse(os.path.exists(os.path.join(wd, "who")))
        listing = c.run("alice", "qstat").stdout
        self.assertRegex(listing, rf"(?m)^{re.escape(jid)} +whoami +alice +0 H workq +$")

        r = c.run("alice", "qrls", jid)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        job = c.wait(jid, "F")
        self.assertEqual(job["Exit_status"], 0)
        self.assertEqual(job["substate"], 92)
        self.assertTrue(job["comment"].startswith("Job run at "), job["comment"])
        self.assertTrue(job["comment"].endswith(" on (localhost:ncpus=1) and finished"),
                        job["comment"])
        self.assertEqual(job["exec_host"], "localhost/0")
        with open(os.path.join(wd, "who")) as f:
            self.assertEqual(f.read(), "alice\n")
        out = os.path.join(wd, f"whoami.o{seq}")
        self.assertEqual(os.stat(out).st_uid, pwd.getpwnam("alice").pw_uid)
        with open(out) as f:
            self.assertEqual(f.read(), f"job {jid} in /home/alice "
                                       f"tmp={c.tmpdir}/pbs.{jid}\n")
        with open(os.path.join(wd, f"whoami.e{seq}")) as f:
            self.assertEqual(f.read(), "oops\n")
        self.assertFalse(os.path.exists(f"{c.tmpdir}/pbs.{jid}"), "TMPDIR must be removed")

    def test_walltime_is_enforced(self):
        c = self.c
        wd = c.workdir("alice")
        jid = c.submit("alice", "sleep 300\n", "-l", "walltime=00:00:02", "-N", "wt", cwd=wd)
        sid = c.wait(jid, "R")["session_id"]
        job = c.wait(jid, "F")
        self.assertEqual(job["Exit_status"], -29)
        self.assertEqual(job["substate"], 93)
        self.assertRegex(job["comment"], r"^job killed: walltime [34] exceeded limit 2$")
        self.assertFalse(session_alive(sid), "the job's processes must be gone")
        with open(os.path.join(wd, f"wt.e{jid.split('.')[0]}")) as f:
            self.assertRegex(f.read(), r"=>> PBS: job killed: walltime [34] exceeded limit 2\n")

    def test_qdel(self):
        c = self.c
        running = c.submit("alice", "sleep 300\n")
        queued = c.submit("alice", "sleep 300\n", "-q", "stopped")
        sid = c.wait(running, "R")["session_id"]
        for jid in (running, queued):
            r = c.run("alice", "qdel", jid)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""), jid)
        job = c.wait(running, "F")
        self.assertEqual((job["Exit_status"], job["substate"]), (271, 91))
        self.assertTrue(job["comment"].endswith(" and terminated"), job["comment"])
        self.assertFalse(session_alive(sid))
        job = c.status(queued)
        self.assertEqual((job["job_state"], job["substate"]), ("F", 91))
        self.assertNotIn("Exit_status", job)

    def test_qdel_of_an_exiting_job(self):
        """A job that ignores SIGTERM stays in E until kill_delay (2 s here)
        ends with SIGKILL; a second qdel meanwhile is refused."""
        c = self.c
        jid = c.submit("alice", "trap '' TERM\nsleep 300\n")
        sid = c.wait(jid, "R")["session_id"]
        r = c.run("alice", "qdel", jid)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(c.status(jid)["job_state"], "E")
        r = c.run("alice", "qdel", jid)
        self.assertEqual((r.returncode, r.stderr),
                         (168, f"qdel: Request invalid for state of job {jid}\n"))
        job = c.wait(jid, "F")
        self.assertEqual((job["Exit_status"], job["substate"]), (265, 91))
        self.assertFalse(session_alive(sid))

    def test_another_users_job_is_refused(self):
        c = self.c
        jid = c.submit("alice", "sleep 300\n", "-q", "stopped")
        for cmd in ("qdel", "qhold", "qrls"):
            with self.subTest(cmd):
                r = c.run("bob", cmd, jid)
                self.assertEqual(r.stderr, f"{cmd}: Unauthorized Request  {jid}\n")
                self.assertEqual(r.returncode, 159)
        self.assertEqual(c.status(jid)["job_state"], "Q")
        r = c.run("alice", "qdel", jid)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_unknown_and_finished_jobs(self):
        c = self.c
        done = c.submit("alice", "true\n")
        c.wait(done, "F")
        alive = c.submit("alice", "sleep 300\n", "-q", "stopped")
        self.addCleanup(c.run, "alice", "qdel", alive)
        cases = [
            (["qstat", "99999"], 153, "qstat: Unknown Job Id 99999.pbsserver\n"),
            (["qstat", "99999.pbsserver", alive], 153, "qstat: Unknown Job Id 99999.pbsserver\n"),
            (["qstat", "1x"], 1, "qstat: illegally formed job identifier: 1x\n"),
            (["qstat", "nosuchq"], 170, "qstat: Unknown queue nosuchq\n"),
            (["qstat", done], 35, f"qstat: {done} Job has finished, use -x or -H to obtain "
                                  "historical job information\n"),
            (["qdel", "99999"], 153, "qdel: Unknown Job Id 99999.pbsserver\n"),
            (["qdel", "abc"], 1, "qdel: illegally formed job identifier: abc\n"),
            (["qdel", done], 35, f"qdel: Job has finished {done}\n"),
            (["qhold", "99999"], 153, "qhold: Unknown Job Id 99999.pbsserver\n"),
            (["qrls", "99999"], 153, "qrls: Unknown Job Id 99999.pbsserver\n"),
        ]
        for argv, code, stderr in cases:
            with self.subTest(argv=argv):
                r = c.run("alice", *argv)
                self.assertEqual((r.returncode, r.stderr), (code, stderr))
        # The known job of a mixed request is still printed.
        r = c.run("alice", "qstat", "99999", alive)
        self.assertIn(f"{alive.split('.')[0]}.pbsserver ", r.stdout)
        r = c.run("alice", "qstat", "-x", done)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rf"(?m)^{re.escape(done)} +STDIN +alice +00:00:00 F workq")

    def test_qsub_errors(self):
        usage = "usage: qsub [-a date_time]"
        cases = [
            (["-q", "nosuch"], 170, "qsub: Unknown queue\n"),
            (["-q", "closed"], 173, "qsub: Queue is not enabled\n"),
            (["-l", "walltime=25:00:00"], 188,
             "qsub: Job violates queue and/or server resource limits\n"),
            (["-l", "select=1:ncpus=3"], 188,
             "qsub: Job violates queue and/or server resource limits\n"),
            (["-l", "walltime=soon"], 166, "qsub: Illegal attribute or resource value\n"),
            (["-l", "mem=4XB"], 166, "qsub: Illegal attribute or resource value\n"),
            (["-l", "foo=1"], 187, "qsub: Unknown resource Resource_List.foo\n"),
            (["-l", "walltime=1:00:00,"], 2, "qsub: illegal -l value\n" + usage),
            (["-N", "two words"], 2, "qsub: illegal -N value\n" + usage),
            (["-j", "xy"], 2, "qsub: illegal -j value\n" + usage),
            (["-r", "maybe"], 2, "qsub: illegal -r value\n" + usage),
        ]
        for args, code, stderr in cases:
            with self.subTest(args=args):
                r = self.c.run("alice", "qsub", *args, stdin="true\n")
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertTrue(r.stderr.startswith(stderr), r.stderr)
                self.assertEqual(r.stdout, "")

    def test_directives_and_command_line(self):
        c = self.c
        script = ("#!/bin/bash\n#PBS -N fromscript\n#PBS -l walltime=00:05:00\n"
                  "#PBS -A acct1\necho hi\n#PBS -N ignored_after_first_command\n")
        jid = c.submit("alice", script, "-N", "fromcli", "-q", "stopped")
        self.addCleanup(c.run, "alice", "qdel", jid)
        job = c.status(jid)
        self.assertEqual(job["Job_Name"], "fromcli")
        self.assertEqual(job["Account_Name"], "acct1")
        self.assertEqual(job["Resource_List"]["walltime"], "00:05:00")
        self.assertEqual(job["Submit_arguments"], "-N fromcli -q stopped")

    def test_blocked_job_comment_and_estimate(self):
        c = self.c
        big = c.submit("alice", "sleep 300\n", "-l", "select=1:ncpus=2", "-l", "walltime=00:10:00")
        stime = c.wait(big, "R")["stime"]
        small = c.submit("alice", "true\n", "-l", "walltime=00:01:00")
        self.addCleanup(c.run, "alice", "qdel", small, big)
        want_comment = "Not Running: Insufficient amount of resource: ncpus (R: 1 A: 0 T: 2)"
        deadline = time.monotonic() + WAIT
        job = c.status(small)
        while job.get("comment") != want_comment and time.monotonic() < deadline:
            time.sleep(0.1)
            job = c.status(small)
        self.assertEqual(job["job_state"], "Q")
        self.assertEqual(job.get("comment"), want_comment)
        want = time.mktime(time.strptime(stime, "%a %b %d %H:%M:%S %Y")) + 600
        self.assertEqual(job["estimated"]["start_time"],
                         time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(want)))
        self.assertEqual(job["estimated"]["exec_vnode"], "(localhost:ncpus=1)")

    def test_json_layout_and_types(self):
        c = self.c
        jid = c.submit("alice", "sleep 300\n", "-N", "123", "-l", "select=1:ncpus=1:mem=1gb",
                       "-v", "GREETING=hello,COUNT=7", "-q", "stopped")
        self.addCleanup(c.run, "alice", "qdel", jid)
        r = c.run("alice", "qstat", "-f", "-F", "json", jid)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "{")
        self.assertRegex(lines[1], r'^    "timestamp":\d+,$')
        self.assertEqual(lines[2], '    "pbs_version":"22.05.11",')
        self.assertEqual(lines[3], '    "pbs_server":"pbsserver",')
        self.assertEqual(lines[4], '    "Jobs":{')
        self.assertEqual(lines[5], f'        "{jid}":{{')
        doc = json.loads(r.stdout)["Jobs"][jid]
        self.assertEqual(doc["Job_Name"], "123")
        self.assertEqual(doc["Resource_List"]["ncpus"], 1)
        self.assertEqual(doc["Resource_List"]["mem"], "1gb")
        self.assertEqual(doc["Resource_List"]["select"], "1:ncpus=1:mem=1gb")
        self.assertEqual(doc["substate"], 10)
        self.assertEqual(doc["Priority"], 0)
        self.assertEqual(doc["Variable_List"]["GREETING"], "hello")
        self.assertEqual(doc["Variable_List"]["COUNT"], 7)
        self.assertEqual(doc["Variable_List"]["PBS_O_QUEUE"], "stopped")

    def test_full_text_layout(self):
        c = self.c
        long = "x" * 150
        jid = c.submit("alice", "true\n", "-v", f"LONG={long}", "-q", "stopped")
        self.addCleanup(c.run, "alice", "qdel", jid)
        r = c.run("alice", "qstat", "-f", jid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"Job Id: {jid}\n    Job_Name = STDIN\n"))
        self.assertTrue(r.stdout.endswith("\n\n"))
        for line in r.stdout.splitlines()[1:-1]:
            self.assertRegex(line, r"^(    \S+ = |\t)", line)
            self.assertLessEqual(len(line.expandtabs(8)), 80, line)
        self.assertIn("LONG=" + long, r.stdout.replace("\n\t", ""))

    def test_alternate_listing(self):
        c = self.c
        jid = c.submit("bob", "true\n", "-N", "altname", "-l", "walltime=01:00:00",
                       "-q", "stopped")
        self.addCleanup(c.run, "bob", "qdel", jid)
        r = c.run("alice", "qstat", "-u", "bob")
        self.assertEqual(r.returncode, 0, r.stderr)
        head = ("\npbsserver: \n" + " " * 60 + "Req'd  Req'd   Elap\n"
                "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n"
                "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n")
        self.assertTrue(r.stdout.startswith(head), r.stdout)
        self.assertIn(f"{jid:<15} bob      stopped  altname       --    1   1    --  01:00 Q   -- \n",
                      r.stdout)

    def test_identity_comes_from_the_kernel(self):
        """A request claiming another user still belongs to its writer, and
        nobody can list the requests of others."""
        c = self.c
        lib = os.path.join(c.home, "lib")
        code = ("import sys, json; sys.path.insert(0, %r)\n"
                "from pbsemu import conf, proto\n"
                "c = conf.load(%r)\n"
                "print(json.dumps(proto.request(c, 'submit', {'user': 'alice', 'uid': 2001,"
                " 'attrs': {'Job_Name': 'spoof'}, 'queue': 'stopped', 'script': 'true',"
                " 'variable_list': 'PBS_O_WORKDIR=/tmp'})))\n") % (lib, os.path.join(c.home, "pbs.conf"))
        r = subprocess.run(["runuser", "-u", "bob", "--", "/usr/bin/python3", "-I", "-c", code],
                           capture_output=True, text=True, cwd="/", timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        jid = json.loads(r.stdout)["jobid"]
        self.addCleanup(c.run, "bob", "qdel", jid)
        self.assertTrue(c.status(jid)["Job_Owner"].startswith("bob@"))
        r = subprocess.run(["runuser", "-u", "bob", "--", "ls", os.path.join(c.home, "spool", "incoming")],
                           capture_output=True, text=True, cwd="/")
        self.assertNotEqual(r.returncode, 0)
        r = c.run("alice", "qsub", stdin="true\n")  # root's jobs are refused, users' accepted
        self.assertEqual(r.returncode, 0, r.stderr)
        root = subprocess.run([c.bin("qsub")], input="true\n", capture_output=True, text=True)
        self.assertEqual((root.returncode, root.stderr), (175, "qsub: Bad UID for job execution\n"))


class ServerDownTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster()
        self.c.start()
        self.addCleanup(self.c.close)

    def test_commands_fail_like_pbs_and_jobs_survive_a_restart(self):
        c = self.c
        jid = c.submit("alice", "sleep 300\n")
        c.wait(jid, "R")
        c.stop()
        cases = [
            (["qstat"], 255, "Connection refused\nqstat: cannot connect to server pbsserver "
                             "(errno=15010)\n"),
            (["qsub"], 162, "Connection refused\nqsub: cannot connect to server pbsserver "
                            "(errno=15010)\n"),
            (["qdel", jid], 162, "Connection refused\nCouldn't connect to cluster: pbsserver\n"),
            (["qhold", jid], 162, "Connection refused\nqhold: cannot connect to server pbsserver "
                                  "(errno=15010)\n"),
        ]
        for argv, code, stderr in cases:
            with self.subTest(argv=argv):
                r = c.run("alice", *argv, stdin="true\n")
                self.assertEqual((r.returncode, r.stderr), (code, stderr))
        r = c.run("alice", "qstat", "-f", "-F", "json", jid)
        self.assertEqual(r.returncode, 255)
        doc = json.loads(r.stdout)
        self.assertEqual(sorted(doc), ["pbs_server", "pbs_version", "timestamp"])
        # The running job was killed with the server and is requeued and
        # run again when it comes back.
        c.start()
        job = c.wait(jid, "R")
        self.assertEqual(job["run_count"], 2)
        r = c.run("alice", "qdel", jid)
        self.assertEqual(r.returncode, 0, r.stderr)
        c.stop()
        c.stop()  # harmless twice


if __name__ == "__main__":
    unittest.main()
