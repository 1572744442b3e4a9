"""fd 3 shared by the session loop and input() waits: one reader, no line torn, none lost."""

import collections
import select
import threading

from . import messages, wire


class Inbox:
    def __init__(self, reader, fd=wire.CONTROL_IN):
        self._reader = reader
        self._fd = fd
        self._kept = collections.deque()  # arrived during a wait, meant for the session loop
        self._lock = threading.Lock()  # user threads may call input() concurrently

    def next(self):
        """The next message for the session loop, or None at EOF."""
        with self._lock:
            if self._kept:
                return self._kept.popleft()
            return self._reader.read_message()

    def wait_for_reply(self, execute_id, seq, gate):
        """The matching input_reply's value: a string, or None for null and for EOF on fd 3.

        SIGINT may raise KeyboardInterrupt only in select(), before a byte is consumed; reading and
        keeping happen under the shield, so a line is either untouched or fully handled.
        A bad input_reply raises wire.ProtocolError.
        """
        while True:
            if not self._reader.has_line():
                select.select([self._fd], [], [])
            with gate.shielded(), self._lock:
                if not self._reader.has_line() and self._reader.fill():
                    continue  # part of a line: wait for the rest, interruptible again
                message = self._reader.read_message()
                if message is not None and message.get("type") != "input_reply":
                    self._kept.append(message)  # not ours to answer: the loop takes it after the run
                    continue
            if message is None:
                return None
            try:
                reply = messages.parse_input_reply(message)
            except messages.BadRequest as exc:
                raise wire.ProtocolError(str(exc)) from None
            if (reply.id, reply.seq) == (execute_id, seq):
                return reply.value
            # Otherwise a stale reply (to an interrupted or earlier wait): ignored.


def make_ask(inbox, send, gate, on_broken):
    """ask(execute_id, seq, prompt, password) -> str or None, for interactive input()/getpass()."""
    lock = threading.Lock()  # one wait at a time: replies are matched by seq in order

    def ask(execute_id, seq, prompt, password):
        with lock:
            with gate.shielded():
                send(messages.input_request(execute_id, seq, prompt, password))
            try:
                return inbox.wait_for_reply(execute_id, seq, gate)
            except wire.ProtocolError as exc:
                on_broken(exc)  # the channel cannot be trusted: the agent exits
                raise

    return ask
