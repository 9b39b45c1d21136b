"""What qsub sends about where and how it was run: the Variable_List
(PBS_O_* from job_env_basic(), then -v and -V items escaped as
copy_env_value() does) and absolute, host-qualified -o/-e paths."""

import os


def esc_commas(s):
    return s.replace(",", "\\,")


def copy_env_value(v, quote_flg):
    """copy_env_value(): with quote_flg (values taken from the environment)
    quotes and commas are escaped with a backslash; otherwise quotes group
    and commas end the value. Returns (copied, rest) or (None, None) on an
    unterminated quote."""
    out, q, i = [], None, 0
    while i < len(v):
        c = v[i]
        if c in "\"'":
            if q:
                if c == q:
                    q = None
                else:
                    out += ["\\", c]
            elif quote_flg:
                out += ["\\", c]
            else:
                q = c
        elif c == "\\":
            out.append(c)
            if i + 1 >= len(v) or v[i + 1] != ",":
                out.append(c)
        elif c == ",":
            if q or quote_flg:
                out += ["\\", c]
            elif out and out[-1] == "\\":
                out.append(c)
            else:
                break
        else:
            out.append(c)
        i += 1
    if q:
        return None, None
    return "".join(out), v[i + 1:] if i < len(v) else ""


def job_env_basic(cwd):
    env = os.environ
    parts = ["PBS_O_HOME=" + (esc_commas(env["HOME"]) if "HOME" in env else "/")]
    for var in ("LANG", "LOGNAME", "PATH", "MAIL", "SHELL", "TZ"):
        if var in env:
            parts.append(f"PBS_O_{var}={esc_commas(env[var])}")
    parts.append("PBS_O_WORKDIR=" + esc_commas(cwd))
    parts.append("PBS_O_SYSTEM=" + os.uname().sysname)
    return ",".join(parts)


def set_job_env(basic, v_value, V):
    """set_job_env(): basic list, then -v items, then (with -V) the whole
    environment. None when a -v name has no value in the environment."""
    out = [basic]
    rest = v_value or ""
    while rest:
        if rest[0] in ",=":
            return None
        name_end = len(rest)
        for k, c in enumerate(rest):
            if c in ",=":
                name_end = k
                break
        name = rest[:name_end]
        if name_end < len(rest) and rest[name_end] == "=":
            value, rest = copy_env_value(rest[name_end + 1:], False)
            if value is None:
                return None
            if not name.startswith("PBS_O_"):
                out.append(f"{name}={value}")
        else:
            rest = rest[name_end + 1:]
            if name.startswith("PBS_O_"):
                continue
            if name not in os.environ:
                return None
            value, _ = copy_env_value(os.environ[name], True)
            out.append(f"{name}={value}")
    if V:
        for name, value in os.environ.items():
            if not name.startswith("PBS_O_"):
                out.append(f"{name}={copy_env_value(value, True)[0]}")
    return ",".join(out)


def working_dir():
    pwd = os.environ.get("PWD")
    try:
        if pwd and os.stat(pwd)[1:3] == os.stat(".")[1:3]:
            return pwd
    except OSError:
        pass
    return os.getcwd()


def prepare_path(path, cwd, host):
    """prepare_path(): [host:]path made absolute and host-qualified."""
    if ":" in path and not path.startswith("/"):
        h, _, p = path.partition(":")
    else:
        h, p = host, path
    if not p.startswith("/"):
        p = os.path.join(cwd, p)
    return f"{h}:{p}"
