"""Newline-delimited JSON on the control file descriptors (fd 3 in, fd 4 out)."""

import json
import os
import threading

CONTROL_IN, CONTROL_OUT = 3, 4  # broker → agent, agent → broker
MAX_LINE = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class ProtocolError(Exception):
    """The broker sent something that is not a message; the channel cannot be trusted."""


class LineTooLong(ProtocolError):
    pass


class Reader:
    """Reassembles lines from a `read(n) -> bytes` function, holding at most max_line + 1 bytes."""

    def __init__(self, read, max_line=MAX_LINE, chunk=CHUNK):
        self._read = read
        self._max = max_line
        self._chunk = chunk
        self._buf = bytearray()
        self._scanned = 0

    def read_line(self):
        """The next line without its newline, or None at a clean EOF."""
        while True:
            end = self._buf.find(b"\n", self._scanned)
            if end >= 0:
                return self._take(end)
            self._scanned = len(self._buf)
            if not self.fill():
                if self._buf:
                    raise ProtocolError("control input ended inside a line")
                return None

    def fill(self):
        """One read into the buffer (blocks only if nothing is available); False at EOF."""
        if len(self._buf) > self._max:
            raise LineTooLong("control line longer than %d bytes" % self._max)
        data = self._read(min(self._chunk, self._max + 1 - len(self._buf)))
        self._buf += data
        return bool(data)

    def has_line(self):
        """Whether read_line would return without reading: a whole line is already buffered."""
        return self._buf.find(b"\n", self._scanned) >= 0

    def _take(self, end):
        if end > self._max:
            raise LineTooLong("control line longer than %d bytes" % self._max)
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        self._scanned = 0
        return line

    def read_message(self):
        """The next JSON object, or None at EOF."""
        line = self.read_line()
        if line is None:
            return None
        try:
            message = json.loads(line)
        except Exception as exc:  # bad UTF-8, bad JSON, absurd nesting or numbers
            raise ProtocolError("control line is not JSON: %s" % exc) from None
        if not isinstance(message, dict):
            raise ProtocolError("control message is not a JSON object")
        return message


class Writer:
    """Writes whole lines with a `write(bytes) -> int` function, looping over short writes."""

    def __init__(self, write):
        self._write = write
        self._lock = threading.Lock()  # user threads may call display() while we send a result

    def send(self, message):
        # ASCII escapes keep lone surrogates from user strings encodable; JSON.parse accepts them.
        line = json.dumps(message, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        view = memoryview((line + "\n").encode("ascii"))
        with self._lock:
            while view:
                view = view[self._write(view):]


def fd_reader(fd, **kwargs):
    return Reader(lambda n: os.read(fd, n), **kwargs)


def fd_writer(fd):
    return Writer(lambda data: os.write(fd, data))
