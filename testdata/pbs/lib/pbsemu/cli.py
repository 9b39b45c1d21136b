"""Entry point shared by the bin/ launchers."""

import os
import sys


def run(fn, *args):
    """Runs a command's main and exits with its status; a closed pipe
    (qstat | head) ends the command quietly instead of with a traceback."""
    try:
        code = fn(*args)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code or 0)
