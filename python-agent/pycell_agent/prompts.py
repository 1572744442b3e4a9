"""What one run reads: sys.stdin from the execute's `stdin`, and input()/getpass() asking the broker."""

import builtins
import getpass
import io
import sys

from . import output
from .serialize import truncate

ORIGINAL_INPUT = builtins.input
ORIGINAL_GETPASS = getpass.getpass
EOF_MESSAGE = "EOF when reading a line"  # what input() says at the end of stdin


def make_stdin(text):
    """A fresh sys.stdin over the text's UTF-8 bytes; `.buffer` works as on a real stdin."""
    data = text.encode("utf-8", "replace")  # lone surrogates from JSON become "?"
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="\n")


class RunInput:
    """Context manager around one run.

    `stdin` None leaves sys.stdin alone (single mode: fd 0 carries it). With `interactive`,
    input() and getpass() call ask(execute_id, seq, prompt, password) -> str or None (EOF).
    Afterwards the original input/getpass are back, whatever user code assigned.
    """

    def __init__(self, ask, execute_id, limit, stdin=None, interactive=False):
        self.ask, self.execute_id, self.limit = ask, execute_id, limit
        self.stdin, self.interactive = stdin, interactive and ask is not None
        self.seq, self.active, self.saved_stdin = 0, False, None

    def __enter__(self):
        if self.stdin is not None:
            self.saved_stdin, sys.stdin = sys.stdin, make_stdin(self.stdin)
        if self.interactive:
            builtins.input, getpass.getpass = self._make_input(), self._make_getpass()
        self.active = True
        return self

    def __exit__(self, *exc_info):
        self.active = False
        builtins.input, getpass.getpass = ORIGINAL_INPUT, ORIGINAL_GETPASS
        if self.stdin is not None:
            sys.stdin = self.saved_stdin
        return False

    def _request(self, prompt, password):
        text = truncate(str(prompt), self.limit)
        output.flush()  # what was printed before the question reaches the broker first
        self.seq += 1
        value = self.ask(self.execute_id, self.seq, text, password)
        if value is None:
            raise EOFError(EOF_MESSAGE)
        return value

    def _make_input(self):
        def input(prompt=""):
            """Read a string from the broker (an interactive run): the client answers the prompt."""
            if not self.active:  # a reference kept past its run behaves as the real one
                return ORIGINAL_INPUT(prompt)
            value = self._request(prompt, False)
            return value[:-1] if value.endswith("\n") else value

        return input

    def _make_getpass(self):
        def getpass(prompt="Password: ", stream=None):
            """Ask the broker for a secret (an interactive run): the client answers without echo."""
            if not self.active:
                return ORIGINAL_GETPASS(prompt, stream)
            return self._request(prompt, True)

        return getpass
