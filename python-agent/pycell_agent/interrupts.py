"""SIGINT raises KeyboardInterrupt only while user code (or a completion) runs.

The broker interrupts a session run with SIGINT. Arriving while the agent reads or writes the
control channel it would tear a message, so outside user code the signal is dropped, and during a
run's own control I/O (display, input) it is deferred to the end of that I/O. A Python handler
(not SIG_IGN) is used so that processes user code spawns get the default disposition.
"""

import signal
import threading


class InterruptGate:
    def __init__(self):
        self.open = False
        self.running = False  # inside a run: a shielded SIGINT is deferred, not dropped
        self.deferred = False

    def install(self):
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        if self.open:
            raise KeyboardInterrupt
        if self.running:
            self.deferred = True

    def __enter__(self):
        self.install()  # user code may have replaced the handler during an earlier run
        self.deferred = False
        self.running = self.open = True
        return self

    def __exit__(self, *exc_info):
        self.running = self.open = False
        self.deferred = False
        return False

    def shielded(self):
        """Control I/O inside a run: SIGINT waits until the message is whole."""
        return _Shield(self)


class _Shield:
    __slots__ = ("gate", "reopen")

    def __init__(self, gate):
        self.gate = gate
        self.reopen = False

    def __enter__(self):
        # Signal handlers run only in the main thread: another thread's I/O cannot be torn.
        if threading.current_thread() is threading.main_thread() and self.gate.open:
            self.gate.open, self.reopen = False, True
        return self

    def __exit__(self, *exc_info):
        if self.reopen:
            self.gate.open = True
            if self.gate.deferred:
                self.gate.deferred = False
                raise KeyboardInterrupt
        return False
