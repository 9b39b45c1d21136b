"""qdel, qhold and qrls: options, messages and exit codes of OpenPBS
22.05's qdel.c, qhold.c and qrls.c. The daemon checks ownership (only the
job's owner or root) and the job state; errors come back per job id and
are printed as the commands do:

    qdel: Unknown Job Id 7.pbsserver          (exit 153)
    qdel: Unauthorized Request  7.pbsserver   (exit 159; note two spaces)
    qdel: Job has finished 7.pbsserver        (exit 35, without -x)
    qdel: Request invalid for state of job 7.pbsserver (exit 168, job in E)
"""

import sys

from . import conf as pbsconf
from . import proto, units

QDEL_USAGE = ("usage:\n"
              "\tqdel [-W force|suppress_email=X] [-x] job_identifier...\n"
              "\tqdel --version\n")


def _hold_usage(cmd):
    return (f"usage: {cmd} [-h hold_list] job_identifier...\n"
            f"       {cmd} --version\n")


def _ids(cmd, operands):
    """get_server() on each operand: (ids to send, failure code so far)."""
    ids, failed = [], 0
    for op in operands:
        try:
            seq, array, server = units.parse_jobid(op)
        except units.UnitError:
            sys.stderr.write(f"{cmd}: illegally formed job identifier: {op}\n")
            failed = 1
            continue
        ids.append((op, seq, array, server))
    return ids, failed


def qdel(argv):
    opts, operands, errflg = proto.getopt(argv, "W:x", argv[0])
    force = deletehist = False
    for c, arg in opts:
        if c == "W":
            if arg == "force":
                force = True
            elif arg.startswith("suppress_email=") or (arg and arg.isdigit()):
                pass
            else:
                sys.stderr.write("qdel: illegal -W value\n")
                errflg += 1
        elif c == "x":
            deletehist = True
    if operands and operands[0] == "--":
        operands = operands[1:]
    if errflg or not operands:
        sys.stderr.write(QDEL_USAGE)
        return 2
    conf = pbsconf.load_for_command("qdel", argv[0])
    ids, failed = _ids("qdel", operands)
    if not ids:
        return failed
    full = [f"{seq}{array or ''}.{server or conf.server}" for _, seq, array, server in ids]
    try:
        reply = proto.request(conf, "delete", {"ids": full, "force": force,
                                               "deletehist": deletehist})
    except proto.NoServer:
        proto.connect_error("qdel", conf)
        return proto.exit_code(proto.SYSTEM)
    for jid, code, msg in reply.get("results", []):
        if code:
            sys.stderr.write(f"qdel: {msg} {jid}\n")
            failed = code
    if reply.get("errno"):
        sys.stderr.write(f"qdel: {reply['msg']}\n")
        failed = reply["errno"]
    return proto.exit_code(failed)


def hold_or_release(argv, cmd):
    opts, operands, errflg = proto.getopt(argv, "h:", argv[0])
    types = ""
    for c, arg in opts:
        if c == "h":
            arg = arg.lstrip()
            if not arg:
                sys.stderr.write(f"{cmd}: illegal -h value\n")
                errflg += 1
            else:
                types = arg
    if operands and operands[0] == "--":
        operands = operands[1:]
    if errflg or not operands:
        sys.stderr.write(_hold_usage(cmd))
        return 2
    conf = pbsconf.load_for_command(cmd, argv[0])
    types = types or "u"
    if not set(types) <= set("uosnp"):
        sys.stderr.write(f"{cmd}: illegal -h value\n")
        sys.stderr.write(_hold_usage(cmd))
        return 2
    ids, failed = _ids(cmd, operands)
    op = "hold" if cmd == "qhold" else "release"
    for orig, seq, array, server in ids:
        jid = f"{seq}{array or ''}.{server or conf.server}"
        try:
            reply = proto.request(conf, op, {"ids": [jid], "hold": types})
        except proto.NoServer:
            proto.connect_error(cmd, conf)
            failed = proto.SYSTEM
            continue
        for rid, code, msg in reply.get("results", []):
            if not code:
                continue
            if code == proto.HISTJOBID:
                # prt_job_err() formats this message with the id as its
                # argument list, and the message has no %s in it.
                sys.stderr.write(f"{cmd}: {msg}\n")
            else:
                sys.stderr.write(f"{cmd}: {msg} {rid}\n")
            failed = code
        if reply.get("errno"):
            sys.stderr.write(f"{cmd}: {reply['msg']} {jid}\n")
            failed = reply["errno"]
    return proto.exit_code(failed)


def main(argv, cmd):
    proto.print_version_and_exit(argv)
    if cmd == "qdel":
        return qdel(argv)
    return hold_or_release(argv, cmd)
