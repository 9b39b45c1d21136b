"""Every qstat output format, reproduced from OpenPBS 22.05's qstat.c and
pbs_json.c: the attribute order of `qstat -f`, its 78-column wrapping, the
default and alternate (-a/-u/-n/-s) listings, `-F json` and `-F dsv`.

Functions here take job records (dicts kept by the daemon in state.json)
and return text; they never read files or the clock themselves, except
ctime()'s use of the local time zone, as qstat does.
"""

from . import PBS_VERSION, units

CHAR_LINE_LIMIT = 78
TRUNC = "*"
DEFAULT_PROJECT = "_pbs_project_default"


def _t(epoch):
    return None if epoch is None else units.ctime(epoch)


def job_attrs(j):
    """The attributes the server returns for job j, in the order of
    master_job_attr_def.xml, as (name, resource or None, value) triples."""
    out = []

    def add(name, value, resource=None):
        if value is not None and value != "":
            out.append((name, resource, str(value)))

    add("Job_Name", j["name"])
    add("Job_Owner", f'{j["user"]}@{j["host"]}')
    for k in sorted(j.get("used") or {}):
        add("resources_used", j["used"][k], k)
    add("job_state", j["state"])
    add("queue", j["queue"])
    add("server", j["server"])
    add("Account_Name", j.get("account"))
    add("Checkpoint", j.get("checkpoint", "u"))
    add("ctime", _t(j["ctime"]))
    add("depend", j.get("depend"))
    add("Error_Path", j["error_path"])
    add("exec_host", j.get("exec_host"))
    add("exec_vnode", j.get("exec_vnode"))
    add("Execution_Time", _t(j.get("exec_time")))
    add("group_list", j.get("group_list"))
    add("Hold_Types", j["hold"])
    add("Join_Path", j["join"])
    add("Keep_Files", j["keep"])
    add("Mail_Points", j["mail_points"])
    add("Mail_Users", j.get("mail_users"))
    add("mtime", _t(j["mtime"]))
    add("Output_Path", j["output_path"])
    add("Priority", j["priority"])
    add("qtime", _t(j["qtime"]))
    add("Rerunable", j["rerunable"])
    for k in sorted(j["resources"]):
        add("Resource_List", j["resources"][k], k)
    add("stime", _t(j.get("stime")))
    add("obittime", _t(j.get("obittime")))
    add("session_id", j.get("session_id"))
    add("Shell_Path_List", j.get("shell"))
    add("jobdir", j.get("jobdir"))
    add("substate", j["substate"])
    add("Variable_List", j["variable_list"])
    add("comment", j.get("comment"))
    add("etime", _t(j.get("etime")))
    add("run_count", j.get("run_count"))
    add("Exit_status", j.get("exit_status"))
    add("Submit_arguments", j.get("submit_args"))
    for name, value in j.get("other_attrs") or []:
        add(name, value)
    add("history_timestamp", j.get("history_timestamp"))
    add("executable", j.get("executable"))
    add("argument_list", j.get("argument_list"))
    if j.get("est_vnode") is not None:
        add("estimated", j["est_vnode"], "exec_vnode")
    if j.get("est_start") is not None:
        # qstat prints UNKNOWN for an epoch of 0: the scheduler has no estimate.
        add("estimated", "UNKNOWN" if j["est_start"] == 0 else units.ctime(j["est_start"]),
            "start_time")
    add("project", j.get("project") or DEFAULT_PROJECT)
    add("Submit_Host", j["host"])
    return out


def show_nonprint(s):
    """show_nonprint_chars(): control characters become ^X."""
    if all(" " <= c != "\x7f" for c in s):
        return s
    return "".join(c if " " <= c != "\x7f" else "^" + (chr(ord(c) + 64) if c != "\x7f" else "?")
                   for c in s)


def prt_attr(name, resource, value):
    """One `qstat -f` attribute, wrapped like qstat.c's prt_attr(): split at
    commas (empty pieces vanish, as with strtok), a continuation line starts
    with a TAB, and a piece longer than the line is cut at column 78."""
    buf = ["    ", name]
    start = len(name) + 7
    if resource:
        start += len(resource) + 1
        buf += [".", resource]
    buf.append(" = ")
    first = True
    tokens = [t for t in value.split(",") if t]
    for i, tok in enumerate(tokens):
        if len(tok) + start < CHAR_LINE_LIMIT:
            buf.append(show_nonprint(tok))
            start += len(tok)
        else:
            if not first:
                buf.append("\n\t")
                start = 9
            for ch in tok:
                buf.append(show_nonprint(ch))
                start += 1
                if start > CHAR_LINE_LIMIT:
                    start = 8
                    buf.append("\n\t")
        if i + 1 < len(tokens):
            first = False
            buf.append(",")
    return "".join(buf)


def full_text(jobs):
    """`qstat -f`: a 'Job Id:' line, the attributes, a blank line per job."""
    out = []
    for j in jobs:
        out.append(f"Job Id: {j['id']}\n")
        out.append("\n".join(prt_attr(n, r, v) for n, r, v in job_attrs(j)))
        out.append("\n\n")
    return "".join(out)


def _escape_dsv(v, delim):
    v = v.replace("\\", "\\\\").replace(delim, "\\" + delim)
    return v.replace("\n", "\\n").replace("\f", "\\f")


def full_dsv(jobs, delim="|"):
    out = []
    for j in jobs:
        fields = [f"Job Id: {j['id']}"]
        for n, r, v in job_attrs(j):
            key = f"{n}.{r}" if r else n
            fields.append(f"{key}={show_nonprint(_escape_dsv(v, delim))}")
        out.append(delim.join(fields) + "\n")
    return "".join(out)


# --- listings -------------------------------------------------------------

DEFAULT_HEADER = ("Job id            Name             User              Time Use S Queue\n"
                  "----------------  ---------------- ----------------  -------- - -----\n")


def _cut(s, n):
    """Truncates to n characters, the last one replaced by '*' (trunc_value)."""
    return s if len(s) <= n else s[:n - 1] + TRUNC


def listing_row(j):
    """One line of the default `qstat` listing (display_statjob, not -f)."""
    jid = j["id"].split(".")
    jid = ".".join(jid[:2])  # sequence number and first label of the server
    jid = _cut(jid, 17)
    name = j["name"]
    if len(name) >= 16:
        name = name[:15] + TRUNC
    user = _cut(j["user"], 16)
    used = (j.get("used") or {}).get("cput", "0")
    used = _cut(used, 8)
    queue = _cut(j["queue"], 16)
    return f"{jid:<17} {name:<16} {user:<16}  {used:>8} {j['state']:>1} {queue:<16}\n"


ALT_HEADER = ("{pad:60}Req'd  Req'd   Elap\n"
              "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n"
              "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n")
BLANK = " -- "


def alt_header(server):
    return f"\n{server}: \n" + ALT_HEADER.format(pad="")


def cnv_size(value):
    """qstat.c cnv_size() for the Memory column: keep the unit, but move up
    a magnitude while the number has more than four digits."""
    try:
        num, unit = units.parse_size(value)
    except units.UnitError:
        return value
    mags = " kmgtp?"
    out = mags.index(unit[0]) if unit[0] in "kmgtp" else 0
    word = unit[-1]
    while num > 9999:
        num = (num + 1023) >> 10
        out += 1
    mag = mags[out].strip()
    return f"{num}{mag}{word}"


def alt_row(j, nodes=False, comments=False):
    """One job in the -a/-u/-n/-s format (altdsp_statjob, not wide)."""
    res = j["resources"]
    used = j.get("used") or {}
    jid = _cut(j["id"], 15)
    user = _cut(j["user"], 8)
    queue = _cut(j["queue"], 8)
    name = _cut(j["name"], 10)
    sess = _cut(str(j["session_id"]), 6) if j.get("session_id") is not None else BLANK
    nds = _cut(res["nodect"], 3) if "nodect" in res else BLANK
    ncpus = res.get("ncpus", "0")
    tsk = _cut(ncpus, 3) if ncpus != "0" else BLANK
    # pbs_strncpy into a 6-byte buffer keeps at most five characters.
    mem = cnv_size(res["mem"])[:5] if "mem" in res else BLANK
    usecput = "cput" in res
    req_time = res.get("cput" if usecput else "walltime", BLANK)
    elap = used.get("cput" if usecput else "walltime", BLANK)
    line = (f"{jid:<15.15} {user:<8.8} {queue:<8.8} "
            f"{name:<10.10} {sess:>6.6} {nds:>3.3} {tsk:>3.3} "
            f"{mem:>6.6} {req_time:>5.5} {j['state']:1.1} {elap:>5.5}\n")
    if nodes and j.get("exec_host"):
        hosts = []
        for tok in j["exec_host"].split("+"):
            host, _, rest = tok.partition("/")
            hosts.append(host.split(".")[0] + ("/" + rest if rest else ""))
        line += "   " + "+".join(hosts) + "\n"
    if comments:
        c = j.get("comment") or BLANK
        if len(c) > 74:
            c = c[:71] + "..."
        line += f"   {show_nonprint(c)}\n"
    return line


# --- JSON ----------------------------------------------------------------

# Released OpenPBS (up to 23.06) types every value with strtod(); current
# master keeps these always strings. The stand-in follows master for them so
# a job named "123" stays a string (openpbs/openpbs#1255).
ALWAYS_STRING = {"Job_Name", "project", "Account_Name"}


def _json_escape(s, full):
    """pbs_json.c strdup_escape(). JSON_ESCAPE (attribute values) leaves a
    backslash pair alone, drops the backslash of \\' and \\, and escapes a
    double quote unless a backslash precedes it or it is the first
    character -- the last being a bug kept for fidelity."""
    out = []
    i, n = 0, len(s)
    ctl = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    while i < n:
        c = s[i]
        if c in ctl:
            out.append(ctl[c])
            i += 1
        elif c == '"':
            if full or (i > 0 and s[i - 1] != "\\"):
                out.append('\\"')
            else:
                out.append('"')
            i += 1
        elif c == "\\":
            if full:
                out.append("\\\\")
                i += 1
            elif i + 1 < n and s[i + 1] in "',":
                out.append(s[i + 1])
                i += 2
            else:
                out.append(s[i:i + 2])
                i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class JSONWriter:
    """The node list of pbs_json.c and its generate_json() printer:
    4-space indent, "key":value, one member per line."""

    def __init__(self):
        self.nodes = []

    def value(self, key, value, kind="auto"):
        self.nodes.append(("value", key, value, kind))

    def obj(self, key):
        self.nodes.append(("object", key, None, None))

    def end(self):
        self.nodes.append(("end", None, None, None))

    @staticmethod
    def _typed(value, kind):
        if kind == "int":
            return str(value)
        if kind == "full":
            return '"' + show_nonprint(_json_escape(value, True)) + '"'
        if kind == "auto" and value.strip() != "" and units.strtod_whole(value) and \
                (value[0] != "0" or units.strtod_value(value) < 1):
            return value
        return '"' + show_nonprint(_json_escape(value, False)) + '"'

    def generate(self):
        out = ["{"]
        indent = 4
        comma = False
        for typ, key, value, kind in self.nodes:
            if typ == "object":
                out.append(",\n" if comma else "\n")
                out.append(" " * indent + f'"{key}":{{')
                indent += 4
                comma = False
            elif typ == "value":
                out.append(",\n" if comma else "\n")
                out.append(" " * indent + f'"{key}":' + self._typed(value, kind))
                comma = True
            else:
                indent -= 4
                out.append("\n" + " " * indent + "}")
                comma = True
        # generate_json() closes the top level only when the tree balanced;
        # with no "Jobs" object (nothing found, server down) the final
        # object-end closed the top level already and no newline follows.
        indent -= 4
        if indent == 0:
            out.append("\n}\n")
        return "".join(out)


def json_header(w, timestamp, server):
    w.value("timestamp", timestamp, "int")
    w.value("pbs_version", PBS_VERSION, "full")
    w.value("pbs_server", server, "full")


def json_job(w, j):
    """Adds one job, grouping a.b attributes into objects the way prt_attr
    does for JSON: consecutive attributes with the same name share one."""
    w.obj(j["id"])
    prev = None
    for name, resource, value in job_attrs(j):
        if name == "Variable_List":
            if prev:
                w.end()
                prev = None
            w.obj(name)
            for key, val in split_varlist(value):
                w.value(key, val)
            w.end()
            continue
        if resource:
            if prev and prev != name:
                w.end()
                prev = None
            if prev is None:
                w.obj(name)
                prev = name
            w.value(resource, value)
        else:
            if prev:
                w.end()
                prev = None
            w.value(name, value, "string" if name in ALWAYS_STRING else "auto")
    if prev:
        w.end()
    w.end()


def split_varlist(value):
    """Splits Variable_List the way qstat.c does for JSON: at commas not
    escaped by a backslash (the backslash is dropped), each item at its
    first '='. Like the C loop, the character right after '=' is copied
    unconditionally, and an item without '=' is left out (it becomes a
    JSON_NULL node, which prints nothing)."""
    items = []
    i, n = 0, len(value)
    while i < n:
        key, val = [], None
        cur = key
        while i < n and value[i] != ",":
            if value[i] == "\\" and i + 1 < n and value[i + 1] == ",":
                i += 1
            if val is None and value[i] == "=":
                val = []
                cur = val
                i += 1
                if i >= n:
                    break
            cur.append(value[i])
            i += 1
        if val is not None:
            items.append(("".join(key), "".join(val)))
        if i < n:
            i += 1
    return items
