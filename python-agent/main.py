"""Entry point: python3 -I -B -u /pycell/agent/main.py --mode single|session|process [--module-policy JSON] (see protocol/agent.md)."""

import os
import sys


def _load():
    # -I keeps this directory off sys.path; add it just for our own import.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    try:
        from pycell_agent import dispatch
    finally:
        sys.path.remove(here)
    return dispatch


if __name__ == "__main__":
    try:
        _load().main(sys.argv[1:])
    except BaseException as exc:  # e.g. the package failed to import
        os.write(2, ("pycell-agent: cannot start: %s: %s\n" % (type(exc).__name__, exc)).encode())
    os._exit(70)
