"""Value formats PBS uses: times, sizes, job ids, select statements, ctime.

Each parser raises UnitError on input PBS would reject, so callers can turn
it into PBS's own message ("Illegal attribute or resource value").
"""

import re
import time


class UnitError(ValueError):
    pass


class UnknownResource(UnitError):
    pass


# --- times ----------------------------------------------------------------

_TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+)(?:\.(\d+))?$")


def parse_time(s):
    """Parses PBS's duration syntax [[HH:]MM:]SS[.ms] into whole seconds."""
    m = _TIME.match(s.strip())
    if not m:
        raise UnitError(f"illegal time {s!r}")
    h, mi, sec, _ = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + int(sec)


def fmt_time(secs):
    """Formats seconds the way qstat prints durations: HH:MM:SS, HH unbounded."""
    secs = max(0, int(secs))
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


def ctime(epoch):
    """ctime(3) without the newline: 'Tue Oct  4 21:23:20 2022'."""
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(epoch))


def run_stamp(epoch):
    """The scheduler's short form in comments: 'Tue Jun 20 at 21:24'."""
    return time.strftime("%a %b %d at %H:%M", time.localtime(epoch))


# --- sizes ----------------------------------------------------------------

_SIZE = re.compile(r"^(\d+)([kmgtp]?)([bw]?)$", re.IGNORECASE)
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}


def parse_size(s):
    """Parses a PBS size (512, 4gb, 4GB, 10mw) into (number, unit) with the
    unit lower-cased and 'b' added when only a magnitude was given."""
    m = _SIZE.match(s.strip())
    if not m:
        raise UnitError(f"illegal size {s!r}")
    num, mag, word = m.groups()
    return int(num), (mag.lower() + (word.lower() or "b"))


def size_kb(num, unit):
    """Size in kilobytes, rounded up like PBS does."""
    nbytes = num << _SHIFT[unit[0]] if unit[0] in "kmgtp" else num
    if unit.endswith("w"):
        nbytes *= 8
    return (nbytes + 1023) // 1024


def parse_size_kb(s):
    return size_kb(*parse_size(s))


def fmt_size(num, unit):
    return f"{num}{unit}"


def sum_sizes(sizes):
    """Totals chunk memory into Resource_List.mem: in the chunks' unit when
    they agree (4gb+4gb = 8gb, as PBS prints it), else in kilobytes."""
    if not sizes:
        return None
    if len({u for _, u in sizes}) == 1:
        return sum(n for n, _ in sizes), sizes[0][1]
    return sum(size_kb(n, u) for n, u in sizes), "kb"


def fmt_kb(kb):
    """A kilobyte count in the largest unit that divides it exactly."""
    for unit, shift in (("tb", 30), ("gb", 20), ("mb", 10)):
        if kb and kb % (1 << shift) == 0:
            return f"{kb >> shift}{unit}"
    return f"{kb}kb"


# --- resources ------------------------------------------------------------

TIME_RES = {"walltime", "cput", "pcput", "soft_walltime", "min_walltime", "max_walltime"}
SIZE_RES = {"mem", "vmem", "pmem", "pvmem", "file"}
LONG_RES = {"ncpus", "ngpus", "mpiprocs", "ompthreads", "nodect", "nice", "naccelerators"}
STRING_RES = {"select", "place", "arch", "host", "vnode", "software", "nodes",
              "accelerator_model", "preempt_targets"}
# Resources a select chunk may carry (host-level ones).
CHUNK_RES = {"ncpus", "ngpus", "mem", "vmem", "mpiprocs", "ompthreads", "host",
             "vnode", "arch", "naccelerators", "accelerator_model"}


def known_resource(name):
    return name in TIME_RES or name in SIZE_RES or name in LONG_RES or name in STRING_RES


def canonical_resource(name, value):
    """Normalises a resource value the way the server stores it, or raises."""
    if name in TIME_RES:
        return fmt_time(parse_time(value))
    if name in SIZE_RES:
        return fmt_size(*parse_size(value))
    if name in LONG_RES:
        v = value.strip()
        if not re.fullmatch(r"[+]?\d+", v):
            raise UnitError(f"illegal number {value!r}")
        return str(int(v))
    if name in STRING_RES:
        if value == "":
            raise UnitError("empty value")
        return value
    raise UnknownResource(name)


def parse_select(s):
    """Parses 'N:res=val:res=val+...' into [(count, {res: canonical value})].

    Raises UnknownResource for a resource PBS does not define and UnitError
    for anything else PBS would reject.
    """
    chunks = []
    for part in s.split("+"):
        if not part:
            raise UnitError("empty chunk")
        fields = part.split(":")
        count = 1
        if "=" not in fields[0]:
            if not fields[0].isdigit() or int(fields[0]) < 1:
                raise UnitError(f"illegal chunk count {fields[0]!r}")
            count = int(fields[0])
            fields = fields[1:]
        res = {}
        for f in fields:
            if "=" not in f:
                raise UnitError(f"illegal chunk element {f!r}")
            k, v = f.split("=", 1)
            if not known_resource(k):
                raise UnknownResource(k)
            if k not in CHUNK_RES:
                raise UnitError(f"{k} is not a host-level resource")
            if k in res:
                raise UnitError(f"duplicate {k}")
            res[k] = canonical_resource(k, v)
        chunks.append((count, res))
    return chunks


_PLACE = re.compile(r"^(free|pack|scatter|vscatter|excl|shared|exclhost|group=\w+)"
                    r"(:(free|pack|scatter|vscatter|excl|shared|exclhost|group=\w+))*$")


def check_place(s):
    if not _PLACE.match(s):
        raise UnitError(f"illegal place {s!r}")


# --- job ids --------------------------------------------------------------

_JOBID = re.compile(r"^(\d+)(\[\d*\])?(?:\.([A-Za-z0-9][A-Za-z0-9_.-]*)?)?$")


def is_jobid(s):
    """pbs_isjobid: an operand is a job id when it starts with a digit."""
    return bool(s) and s[0].isdigit()


def parse_jobid(s):
    """Returns (seq, array, server or None); raises UnitError when the id is
    ill-formed (qstat/qdel then say 'illegally formed job identifier')."""
    m = _JOBID.match(s)
    if not m:
        raise UnitError(s)
    return int(m.group(1)), m.group(2), m.group(3)


# --- JSON number detection ----------------------------------------------

_STRTOD = re.compile(
    r"^\s*[+-]?(?:"
    r"(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
    r"|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?"
    r")\s*$",
    re.IGNORECASE)


def strtod_whole(s):
    """True when strtod(3) consumes all of s but trailing blanks, which is
    how OpenPBS's pbs_json.c decides to print a value as a JSON number."""
    return bool(_STRTOD.match(s))


def strtod_value(s):
    try:
        return float(s.strip())
    except ValueError:
        try:
            return float.fromhex(s.strip())
        except ValueError:
            return 0.0
