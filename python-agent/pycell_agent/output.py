"""Getting user output out before the result: Python streams, then C stdio buffers."""

import os
import sys

try:  # C extensions' printf output sits in libc buffers that os._exit would discard
    import ctypes

    _libc = ctypes.CDLL(None)
except Exception:
    _libc = None


def flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # user code may have replaced or closed them
            pass
    if _libc is not None:
        try:
            _libc.fflush(None)
        except Exception:
            pass


def write_exit_message(text):
    """What CPython prints for sys.exit("msg"): the message and a newline on stderr."""
    write_stderr_line(text)


def write_stderr_line(text):
    try:
        sys.stderr.write(text + "\n")
    except Exception:
        try:
            os.write(2, (text + "\n").encode("utf-8", "backslashreplace"))
        except OSError:
            pass
