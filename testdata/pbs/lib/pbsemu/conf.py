"""The stand-in's one configuration file, pbs.conf.

Real PBS reads /etc/pbs.conf (KEY=VALUE lines naming the server and
PBS_HOME) and keeps queues and server attributes in its database, set with
qmgr. The stand-in has no qmgr, so queues and server attributes live in the
same KEY=VALUE file:

    PBS_SERVER=pbsserver
    node=localhost
    node_ncpus=2
    queue.workq.resources_max.walltime=24:00:00
    queue.stopped.started=False

The file is found through $PBS_CONF_FILE or, failing that, as pbs.conf next
to the bin/ directory the command was started from, so a copied tree works
without any environment.
"""

import os

from . import units


class ConfError(Exception):
    pass


class Queue:
    def __init__(self, name):
        self.name = name
        self.enabled = True  # accepts new jobs
        self.started = True  # the scheduler runs its jobs
        self.resources_max = {}  # resource -> canonical value string
        self.resources_default = {}

    def max_seconds(self, res):
        v = self.resources_max.get(res)
        return None if v is None else units.parse_time(v)


class Conf:
    """Everything read from pbs.conf, with PBS's defaults."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.server = "pbsserver"
        self.home = os.path.dirname(self.path)
        self.node = "localhost"
        self.node_ncpus = 2
        self.node_mem_kb = 4 * 1024 * 1024
        self.node_ngpus = 0
        self.default_queue = "workq"
        self.history_enable = True
        self.history_duration = 14 * 24 * 3600  # server.h SVR_JOBHIST_DEFAULT
        self.kill_delay = 10  # queue attribute kill_delay, PBS default 10 s
        self.tmpdir = "/var/tmp"
        self.max_seq = 9999999
        self.client_timeout = 30.0
        self.queues = {}  # insertion order is the display order

    # Paths under PBS_HOME. Modes are set by the daemon when it starts.
    @property
    def server_priv(self):
        return os.path.join(self.home, "server_priv")

    @property
    def state_file(self):
        return os.path.join(self.server_priv, "state.json")

    @property
    def pid_file(self):
        return os.path.join(self.server_priv, "server.pid")

    @property
    def lock_file(self):
        return os.path.join(self.server_priv, "server.lock")

    @property
    def scripts_dir(self):
        return os.path.join(self.server_priv, "jobs")

    @property
    def incoming_dir(self):
        return os.path.join(self.home, "spool", "incoming")

    @property
    def replies_dir(self):
        return os.path.join(self.home, "spool", "replies")

    @property
    def output_spool(self):
        return os.path.join(self.home, "spool", "output")

    @property
    def aux_dir(self):
        return os.path.join(self.home, "aux")

    def short_server(self):
        return self.server.split(".")[0]


_BOOL = {"true": True, "t": True, "1": True, "y": True, "yes": True,
         "false": False, "f": False, "0": False, "n": False, "no": False}


def _bool(key, v):
    try:
        return _BOOL[v.strip().lower()]
    except KeyError:
        raise ConfError(f"{key}: {v!r} is not a boolean") from None


def _int(key, v):
    try:
        return int(v)
    except ValueError:
        raise ConfError(f"{key}: {v!r} is not an integer") from None


def load(path):
    c = Conf(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfError(f"{path}:{n}: expected KEY=VALUE")
        key, val = (s.strip() for s in line.split("=", 1))
        try:
            _apply(c, key, val)
        except (ConfError, units.UnitError) as e:
            raise ConfError(f"{path}:{n}: {e}") from None
    if not c.queues:
        c.queues["workq"] = Queue("workq")
    if c.default_queue not in c.queues:
        raise ConfError(f"{path}: default_queue {c.default_queue!r} is not defined")
    return c


def _apply(c, key, val):
    if key.startswith("queue."):
        parts = key.split(".")
        if len(parts) < 3:
            raise ConfError(f"{key}: expected queue.NAME.ATTRIBUTE")
        q = c.queues.setdefault(parts[1], Queue(parts[1]))
        attr = ".".join(parts[2:])
        if attr == "enabled":
            q.enabled = _bool(key, val)
        elif attr == "started":
            q.started = _bool(key, val)
        elif attr.startswith("resources_max.") or attr.startswith("resources_default."):
            kind, res = attr.split(".", 1)
            getattr(q, kind)[res] = units.canonical_resource(res, val)
        else:
            raise ConfError(f"{key}: unknown queue attribute {attr!r}")
        return
    if key == "PBS_SERVER":
        c.server = val
    elif key == "PBS_HOME":
        c.home = val
    elif key in ("PBS_EXEC", "PBS_START_SERVER", "PBS_START_MOM", "PBS_START_SCHED"):
        pass  # real pbs.conf keys that mean nothing here
    elif key == "node":
        c.node = val
    elif key == "node_ncpus":
        c.node_ncpus = _int(key, val)
    elif key == "node_mem":
        c.node_mem_kb = units.parse_size_kb(val)
    elif key == "node_ngpus":
        c.node_ngpus = _int(key, val)
    elif key == "default_queue":
        c.default_queue = val
    elif key == "job_history_enable":
        c.history_enable = _bool(key, val)
    elif key == "job_history_duration":
        c.history_duration = units.parse_time(val)
    elif key == "kill_delay":
        c.kill_delay = _int(key, val)
    elif key == "tmpdir":
        c.tmpdir = val
    elif key == "max_job_sequence_id":
        c.max_seq = _int(key, val)
    elif key == "client_timeout":
        c.client_timeout = float(val)
    else:
        raise ConfError(f"unknown key {key!r}")


def find(argv0):
    """Locates pbs.conf for a command started as argv0."""
    env = os.environ.get("PBS_CONF_FILE")
    if env:
        return env
    here = os.path.dirname(os.path.realpath(argv0))
    return os.path.join(os.path.dirname(here), "pbs.conf")


def load_for_command(cmd, argv0):
    """Loads the configuration or exits the way a PBS command does."""
    import sys
    path = find(argv0)
    try:
        return load(path)
    except (OSError, ConfError) as e:
        sys.stderr.write(f"{cmd}: Failed to load configuration parameters!\n")
        sys.stderr.write(f"{cmd}: {e}\n")
        sys.exit(2)
