"""SIGINT raises KeyboardInterrupt only while user code runs.

The broker interrupts a session run with SIGINT. Arriving while the agent reads or writes the
control channel it would tear a message, so outside user code the signal is dropped. A Python
handler (not SIG_IGN) is used so that processes user code spawns get the default disposition.
"""

import signal


class InterruptGate:
    def __init__(self):
        self.open = False

    def install(self):
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        if self.open:
            raise KeyboardInterrupt

    def __enter__(self):
        self.install()  # user code may have replaced the handler during an earlier run
        self.open = True
        return self

    def __exit__(self, *exc_info):
        self.open = False
        return False
