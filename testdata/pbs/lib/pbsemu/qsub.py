"""qsub: reads the script and options as OpenPBS's qsub.c does, then hands
the job to the daemon, which validates it the way the server (and the IFL
layer) would and answers with the new id or PBS's error.

What happens on the client, as in qsub.c: option syntax (glibc getopt, the
-l syntax of set_resources(), -a/-r/-W/-c values), #PBS directives (command
line wins, directives stop at the first executable line), the environment
in Variable_List (PBS_O_* plus -v/-V), absolute -o/-e paths, and the
"cannot connect" failure when the server is down.
"""

import os
import socket
import sys
import time

from . import conf as pbsconf
from . import jobenv, proto

USAGE = ("usage: qsub [-a date_time] [-A account_string] [-c interval]\n"
         "\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]\n"
         "\t[-k o|e|oe] [-l resource_list] [-m mail_options] [-M user_list]\n"
         "\t[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]\n"
         "\t[-S path] [-u user_list] [-W otherattributes=value...]\n"
         "\t[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]\n"
         "       qsub --version\n")
OPTSTRING = "a:A:c:C:e:fGhIj:J:k:l:m:M:N:o:p:P:q:r:R:S:u:v:VW:Xz"
CMDLINE = 3  # precedence of command-line options; directives use CMDLINE-1
MAX_SCRIPT = 100 * 1024 * 1024  # jobscript_max_size default


def usage_exit():
    sys.stderr.write(USAGE)
    sys.exit(2)


class Opts:
    """The attribute list qsub builds, with qsub.c's precedence rule: an
    option is set only when its recorded level is at most the current one,
    so command-line values survive the directives read later."""

    def __init__(self):
        self.level = {}
        self.attrs = {}
        self.resources = {}
        self.queue = ""
        self.v_value = None
        self.V = False
        self.z = False
        self.prefix = None
        self.interactive = False
        self.x11 = False
        self.gui = False
        self.other = {}

    def _may(self, key, passet):
        if self.level.get(key, 0) <= passet:
            self.level[key] = passet
            return True
        return False

    def process(self, opts, passet):
        """process_opts(): applies getopt results, returns the error count."""
        err = 0
        for c, arg in opts:
            if c == "?":
                err += 1
            elif c == "l":
                e = set_resources(self.resources, arg, passet == CMDLINE)
                if e:
                    sys.stderr.write("qsub: illegal -l value\n")
                    err += 1
            elif c == "W":
                err += self._w(arg, passet)
            elif c in SIMPLE and self._may(c, passet):
                name, check = SIMPLE[c]
                value = arg.lstrip() if c in "cmp" else arg
                if check and not check(value):
                    sys.stderr.write(f"qsub: illegal -{c} value\n")
                    err += 1
                    continue
                self.attrs[name] = value
            elif c == "a" and self._may(c, passet):
                t = cvtdate(arg)
                if t is None:
                    sys.stderr.write("qsub: illegal -a value\n")
                    err += 1
                    continue
                self.attrs["Execution_Time"] = str(t)
            elif c == "h" and self._may(c, passet):
                self.attrs["Hold_Types"] = "u"
            elif c == "q" and self._may(c, passet):
                self.queue = arg
            elif c == "v" and self._may(c, passet):
                self.v_value = arg
            elif c == "V" and self._may(c, passet):
                self.V = True
            elif c == "z" and self._may(c, passet):
                self.z = True
            elif c == "C" and self._may(c, passet):
                self.prefix = arg
            elif c == "I" and self._may(c, passet):
                self.interactive = True
            elif c == "X" and self._may(c, passet):
                self.x11 = True
            elif c == "G" and self._may(c, passet):
                self.gui = True
        return err

    def _w(self, arg, passet):
        arg = arg.lstrip()
        pairs = parse_equal_string(arg) if arg else None
        if not pairs:
            sys.stderr.write("qsub: illegal -W value\n")
            return 1
        for key, value in pairs:
            if key == "interactive":
                if value.lower() not in ("true", "false"):
                    sys.stderr.write("qsub: illegal -W value\n")
                    return 1
                if value.lower() == "true" and self._may("I", passet):
                    self.interactive = True
            elif self._may("W:" + key, passet):
                self.other[key] = value
        return 0


def _valid_r(v):
    return v in ("y", "n")


def _valid_c(v):
    return v != "u"


# Options that set one attribute; the checks are the client-side ones in
# qsub.c. Everything else about a value is checked by the server.
SIMPLE = {
    "A": ("Account_Name", None),
    "P": ("project", None),
    "c": ("Checkpoint", _valid_c),
    "e": ("Error_Path", None),
    "j": ("Join_Path", None),
    "J": ("array_indices_submitted", None),
    "k": ("Keep_Files", None),
    "m": ("Mail_Points", None),
    "M": ("Mail_Users", None),
    "N": ("Job_Name", None),
    "o": ("Output_Path", None),
    "p": ("Priority", None),
    "r": ("Rerunable", _valid_r),
    "R": ("Remove_Files", None),
    "S": ("Shell_Path_List", None),
    "u": ("User_List", None),
}


def set_resources(resources, arg, add):
    """set_resources(): 'name[=value][,name[=value]]...'; returns 1 on a
    syntax error (no name, a trailing comma, a bad or empty value). On the
    command line a later value replaces an earlier one; a directive only
    adds a resource not already requested, so the first directive wins."""
    pairs, i, n = [], 0, len(arg)
    while i < n:
        while i < n and arg[i].isspace():
            i += 1
        eq = i
        while eq < n and arg[eq] not in "=,":
            eq += 1
        if eq == i:
            return 1
        name = arg[i:eq].split()[0]
        if eq < n and arg[eq] == "=":
            value, i = _quoted_value(arg, eq + 1)
            if value is None:
                return 1
        else:
            value, i = "", eq
        pairs.append((name, value))
        if i < n and arg[i] == ",":
            i += 1
            if i >= n:
                return 1
    for name, value in pairs:
        if add:
            resources.pop(name, None)
            resources[name] = value
        elif name not in resources:
            resources[name] = value
    return 0


def _quoted_value(s, i):
    """pbs_quote_parse() with no white space allowed: a value up to the
    next comma outside quotes. Returns (value, index of the comma or end),
    or (None, i) for an empty value, white space or an open quote."""
    while i < len(s) and s[i].isspace():
        i += 1
    out, quote = [], None
    while i < len(s):
        c = s[i]
        if quote:
            if c == quote:
                quote = None
            else:
                out.append(c)
        elif c in "\"'":
            quote = c
        elif c == ",":
            break
        elif c.isspace():
            return None, i
        else:
            out.append(c)
        i += 1
    if quote or not out:
        return None, i
    return "".join(out), i


def parse_equal_string(s):
    """parse_equal_string(): 'a=b,c=d' -> [(a, b), (c, d)]; None if bad."""
    pairs = []
    for part in s.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not key or not eq:
            return None
        pairs.append((key, value.strip()))
    return pairs


def cvtdate(s):
    """cvtdate(): [[[[CC]YY]MM]DD]hhmm[.SS] to an epoch; None if illegal.
    Missing fields default to now; a time already past with no day given
    means tomorrow, as the qsub man page says."""
    secs = 0
    if "." in s:
        s, _, ss = s.partition(".")
        if len(ss) != 2 or not ss.isdigit():
            return None
        secs = int(ss)
    if not s.isdigit() or len(s) not in (4, 6, 8, 10, 12):
        return None
    now = time.localtime()
    fields = [int(s[i:i + 2]) for i in range(0, len(s), 2)]
    mi, hh = fields.pop(), fields.pop()
    dd = fields.pop() if fields else None
    mm = fields.pop() if fields else None
    yy = fields.pop() if fields else None
    cc = fields.pop() if fields else None
    year = now.tm_year if yy is None else (cc if cc is not None else now.tm_year // 100) * 100 + yy
    try:
        t = time.mktime((year, mm or now.tm_mon, dd or now.tm_mday, hh, mi, secs, 0, 0, -1))
    except (OverflowError, ValueError):
        return None
    if not (0 <= hh < 24 and 0 <= mi < 60 and secs < 60):
        return None
    if t < time.time() and dd is None:
        t += 24 * 3600
    return int(t)


# --- the script --------------------------------------------------------

def is_directive(line, prefix):
    s = line.lstrip()
    return s[len(prefix):] if prefix and s.startswith(prefix) else None


def is_executable(line):
    s = line.lstrip()
    return bool(s) and not s.startswith("#")


def make_argv(line):
    """make_argv(): splits a directive like a shell would, minus expansion."""
    args, cur, i, have = [], [], 0, False
    line = line.strip()
    while i < len(line):
        c = line[i]
        if c in "\"'":
            j = line.find(c, i + 1)
            if j < 0:
                sys.stderr.write(f"qsub: unmatched {c}\n")
                sys.exit(1)
            cur.append(line[i + 1:j])
            have = True
            i = j + 1
        elif c == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            have = True
            i += 2
        elif c.isspace():
            if cur or have:
                args.append("".join(cur))
            cur, have = [], False
            while i < len(line) and line[i].isspace():
                i += 1
        else:
            cur.append(c)
            have = True
            i += 1
    if cur or have:
        args.append("".join(cur))
    return args


def read_directives(text, prefix, opts):
    """get_script(): applies #PBS lines until the first executable line."""
    for line in text.splitlines():
        if is_executable(line):
            break
        rest = is_directive(line, prefix)
        if rest is None:
            continue
        args = make_argv(rest)
        parsed, operands, _ = proto.getopt(["qsub"] + args, OPTSTRING, "qsub")
        err = opts.process(parsed, CMDLINE - 1)
        if err or operands:
            sys.stderr.write("qsub: directive error: " + "".join(a + " " for a in args) + "\n")
            sys.exit(1)


def read_script(path, opts):
    if path in ("", "-"):
        if sys.stdin.isatty() and not opts.interactive:
            sys.stdout.write("Job script will be read from standard input. Submit with CTRL+D.\n")
        data = sys.stdin.buffer.read(MAX_SCRIPT + 1)
        return data, "STDIN"
    try:
        os.stat(path)
    except OSError as e:
        sys.stderr.write(f"qsub: script file:: {e.strerror}\n")
        sys.exit(1)
    if not os.path.isfile(path):
        sys.stderr.write("qsub: script not a file\n")
        sys.exit(1)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCRIPT + 1)
    except OSError as e:
        sys.stderr.write(f"qsub: opening script file:: {e.strerror}\n")
        sys.exit(8)
    return data, os.path.basename(path)


def main(argv):
    proto.print_version_and_exit(argv)
    conf = pbsconf.load_for_command("qsub", argv[0])
    parsed, operands, _ = proto.getopt(argv, OPTSTRING, argv[0])
    opts = Opts()
    errflg = opts.process(parsed, CMDLINE)
    executable, arguments, script_path = None, None, ""
    if operands and operands[0] == "--":
        if len(operands) < 2:
            errflg += 1
        else:
            executable, arguments = operands[1], operands[2:]
    elif len(operands) > 1:
        errflg += 1
    elif operands:
        script_path = operands[0]
    if errflg:
        usage_exit()
    if opts.x11 and not opts.interactive:
        sys.stderr.write("qsub: X11 Forwarding possible only for interactive jobs\n")
        sys.exit(1)
    if opts.gui and not opts.interactive:
        sys.stderr.write("qsub: only interactive jobs can have GUI\n")
        sys.exit(1)
    if opts.interactive and not (sys.stdin.isatty() and sys.stdout.isatty()):
        sys.stderr.write("qsub:\tstandard input and output must be a terminal for\n"
                         "\tinteractive job submission\n")
        sys.exit(1)

    default_name = "STDIN"
    script = b""
    if executable is None:
        script, default_name = read_script(script_path, opts)
        prefix = opts.prefix if opts.prefix is not None else os.environ.get("PBS_DPREFIX", "#PBS")
        read_directives(script.decode("utf-8", "surrogateescape"), prefix, opts)
    if "Job_Name" not in opts.attrs:
        opts.attrs["Job_Name"] = default_name

    cwd = jobenv.working_dir()
    host = socket.gethostname()
    for key in ("Output_Path", "Error_Path"):
        if key in opts.attrs:
            opts.attrs[key] = jobenv.prepare_path(opts.attrs[key], cwd, host)
    dest = opts.queue
    queue, _, server = dest.partition("@")
    if server and server not in (conf.server, conf.short_server()):
        sys.stderr.write(f"Connection refused\nqsub: cannot connect to server {server} "
                         f"(errno={proto.SYSTEM})\n")
        sys.exit(proto.exit_code(proto.SYSTEM))

    varlist = jobenv.set_job_env(jobenv.job_env_basic(cwd), opts.v_value, opts.V)
    if varlist is None:
        sys.stderr.write("qsub: cannot send environment with the job\n")
        sys.exit(1)
    payload = {
        "attrs": opts.attrs,
        "resources": list(opts.resources.items()),
        "other": opts.other,
        "queue": queue,
        "script": script.decode("utf-8", "surrogateescape"),
        "executable": executable,
        "arguments": arguments,
        "variable_list": varlist,
        "submit_args": " ".join(argv[1:]),
        "interactive": opts.interactive,
    }
    if len(script) > MAX_SCRIPT:
        sys.stderr.write("qsub: jobscript size exceeded the jobscript_max_size\n")
        sys.exit(2)
    try:
        reply = proto.request(conf, "submit", payload)
    except proto.NoServer:
        proto.connect_error("qsub", conf)
        sys.exit(proto.exit_code(proto.SYSTEM))
    if reply.get("errno"):
        msg = reply["msg"]
        sys.stderr.write(f"qsub: {msg}\n")
        if "qsub: illegal -" in f"qsub: {msg}":
            sys.stderr.write(USAGE)
        sys.exit(proto.exit_code(reply["errno"]))
    if not opts.z:
        print(reply["jobid"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
