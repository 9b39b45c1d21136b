"""How the commands talk to the daemon, and PBS's error numbers.

Real PBS commands connect to pbs_server over TCP and authenticate with
munge or a privileged port. The stand-in uses the file system instead, so
that the kernel vouches for the caller: a command writes its request into
spool/incoming (mode 1733: anyone may create, nobody may list or touch
another user's file) and renames it into place; the daemon trusts only the
owner uid of the file it opens, never what the request says about the
user; it answers in spool/replies/<token>.json (mode 0711, file owned by
the caller, 0400). The token is random, so nobody can guess another user's
reply.

qstat needs no request: it reads server_priv/state.json, which the daemon
rewrites atomically, after checking that the daemon is alive, so a stopped
server still makes qstat fail the way PBS does.
"""

import json
import os
import secrets
import sys
import time

# pbs_error.h numbers and pbs_messages.c texts. Commands exit with the
# number & 0xff (15001 -> 153, 15139 -> 35, 15016 -> 168).
UNKJOBID = 15001
IVALREQ = 15004
PERM = 15007
SYSTEM = 15010
BADATVAL = 15014
BADSTATE = 15016
UNKQUE = 15018
QUNOENB = 15021
BADUSER = 15023
NOSUP = 15029
UNKRESC = 15035
EXCQRESC = 15036
INVALJOBRESC = 15109
HISTJOBID = 15139
JOBHISTNOTSET = 15140

MESSAGES = {
    UNKJOBID: "Unknown Job Id",
    IVALREQ: "Invalid request",
    PERM: "Unauthorized Request ",
    SYSTEM: "System error: ",
    BADATVAL: "Illegal attribute or resource value",
    BADSTATE: "Request invalid for state of job",
    UNKQUE: "Unknown queue",
    QUNOENB: "Queue is not enabled",
    BADUSER: "Bad UID for job execution",
    NOSUP: "No support for requested service",
    UNKRESC: "Unknown resource",
    EXCQRESC: "Job violates queue and/or server resource limits",
    INVALJOBRESC: '"-lresource=" cannot be used with "select" or "place", resource is',
    HISTJOBID: "Job has finished",
    JOBHISTNOTSET: "PBS is not configured to maintain job history",
}


class NoServer(Exception):
    """The daemon is not running or did not answer in time."""


def server_alive(conf):
    """True when the pid in server.pid is a live pbs_server process.

    Commands run as ordinary users, so they cannot signal the root daemon;
    /proc tells whether the pid exists and is still pbs_server (a recycled
    pid would be some other program)."""
    try:
        with open(conf.pid_file) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError):
        return False
    return b"pbs_server" in cmdline


def connect_error(cmd, conf, out=sys.stderr):
    """What a PBS 22.05 command prints when the server port is closed:
    cnt2server()'s perror() line, then the command's own message."""
    out.write("Connection refused\n")
    if cmd == "qdel":
        out.write(f"Couldn't connect to cluster: {conf.server}\n")
    else:
        out.write(f"{cmd}: cannot connect to server {conf.server} (errno={SYSTEM})\n")


def request(conf, op, payload):
    """Sends one request and waits for the daemon's reply (a dict)."""
    if not server_alive(conf):
        raise NoServer()
    token = secrets.token_hex(16)
    tmp = os.path.join(conf.incoming_dir, f".{token}.tmp")
    final = os.path.join(conf.incoming_dir, f"{token}.req")
    body = json.dumps({"op": op, "token": token, **payload}).encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.rename(tmp, final)
    except OSError as e:
        raise NoServer() from e
    reply = os.path.join(conf.replies_dir, f"{token}.json")
    deadline = time.monotonic() + conf.client_timeout
    delay = 0.005
    while True:
        try:
            with open(reply, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline or not server_alive(conf):
            for p in (final, tmp):
                try:
                    os.unlink(p)
                except OSError:
                    pass
            raise NoServer()
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def exit_code(errno):
    return errno & 0xFF


def print_version_and_exit(argv):
    """PRINT_VERSION_AND_EXIT: `cmd --version` alone prints the version."""
    from . import PBS_VERSION
    if len(argv) == 2 and argv[1] == "--version":
        print(f"pbs_version = {PBS_VERSION}")
        sys.exit(0)


def getopt(argv, optstring, prog):
    """POSIX getopt(3) as glibc reports errors: options stop at the first
    operand or at '--', which is left at the head of the operands because
    qsub gives it a meaning. Returns (opts, operands, errors) where errors
    counts the options glibc complained about on stderr."""
    opts, errors = [], 0
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            break
        if not a.startswith("-") or a == "-":
            break
        j = 1
        while j < len(a):
            c = a[j]
            k = optstring.find(c)
            if c == ":" or k < 0:
                if a.startswith("--"):
                    sys.stderr.write(f"{prog}: unrecognized option '{a}'\n")
                    j = len(a)
                else:
                    sys.stderr.write(f"{prog}: invalid option -- '{c}'\n")
                    j += 1
                errors += 1
                opts.append(("?", None))
                continue
            if k + 1 < len(optstring) and optstring[k + 1] == ":":
                if j + 1 < len(a):
                    opts.append((c, a[j + 1:]))
                elif i + 1 < len(argv):
                    i += 1
                    opts.append((c, argv[i]))
                else:
                    sys.stderr.write(f"{prog}: option requires an argument -- '{c}'\n")
                    errors += 1
                    opts.append(("?", None))
                j = len(a)
            else:
                opts.append((c, None))
                j += 1
        i += 1
    return opts, argv[i:], errors
