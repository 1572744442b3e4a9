import json
import os
import unittest

from pycell_agent.wire import LineTooLong, ProtocolError, Reader, Writer, fd_reader, fd_writer


def scripted(chunks):
    """A read(n) that returns the given chunks in order (each cut to n), then b""."""
    pending = list(chunks)
    asked = []

    def read(n):
        asked.append(n)
        if not pending:
            return b""
        chunk = pending.pop(0)
        if len(chunk) > n:
            pending.insert(0, chunk[n:])
            chunk = chunk[:n]
        return chunk

    return read, asked


def read_all(reader):
    messages = []
    while True:
        message = reader.read_message()
        if message is None:
            return messages
        messages.append(message)


class ReaderTest(unittest.TestCase):
    def test_framing(self):
        rows = [
            ("one line", [b'{"a":1}\n'], [{"a": 1}]),
            ("partial reads reassembled", [b'{"a"', b':', b'1}', b'\n{"b":', b'2}\n'], [{"a": 1}, {"b": 2}]),
            ("several messages in one read", [b'{"a":1}\n{"b":2}\n{"c":3}\n'], [{"a": 1}, {"b": 2}, {"c": 3}]),
            ("utf-8 and escapes", ['{"s":"é\\u2026"}\n'.encode()], [{"s": "é…"}]),
            ("nothing at all", [], []),
        ]
        for name, chunks, expected in rows:
            with self.subTest(name):
                read, _ = scripted(chunks)
                self.assertEqual(read_all(Reader(read, chunk=4)), expected)

    def test_refusals(self):
        rows = [
            ("line over the limit", [b'{"a":"' + b"x" * 20 + b'"}\n'], LineTooLong, "control line longer than 16 bytes"),
            ("no newline ever", [b"x" * 100], LineTooLong, "control line longer than 16 bytes"),
            ("eof inside a line", [b'{"a":1}'], ProtocolError, "control input ended inside a line"),
            ("not json", [b"hello\n"], ProtocolError, "control line is not JSON: Expecting value: line 1 column 1 (char 0)"),
            ("not an object", [b"[1,2]\n"], ProtocolError, "control message is not a JSON object"),
            ("bad utf-8", [b'{"a":"\xff"}\n'], ProtocolError, None),
        ]
        for name, chunks, error, text in rows:
            with self.subTest(name):
                read, _ = scripted(chunks)
                with self.assertRaises(error) as caught:
                    Reader(read, max_line=16).read_message()
                if text is not None:
                    self.assertEqual(str(caught.exception), text)

    def test_line_of_exactly_the_limit_is_accepted(self):
        line = b'{"s":"' + b"x" * 8 + b'"}'
        self.assertEqual(len(line), 16)
        read, _ = scripted([line + b"\n"])
        self.assertEqual(Reader(read, max_line=16).read_message(), {"s": "x" * 8})

    def test_a_long_line_is_refused_without_reading_it_all(self):
        read, asked = scripted([b"x" * 10000])
        with self.assertRaises(LineTooLong):
            Reader(read, max_line=16, chunk=4).read_line()
        self.assertLessEqual(sum(asked), 17)


class WriterTest(unittest.TestCase):
    def test_short_writes_are_continued(self):
        written = []

        def write(data):
            written.append(bytes(data[:3]))
            return len(written[-1])

        Writer(write).send({"type": "ready", "pid": 7})
        self.assertEqual(b"".join(written), b'{"type":"ready","pid":7}\n')

    def test_non_ascii_and_lone_surrogates_are_escaped(self):
        written = []
        Writer(lambda data: written.append(bytes(data)) or len(data)).send({"s": "é…\udc80"})
        self.assertEqual(b"".join(written), b'{"s":"\\u00e9\\u2026\\udc80"}\n')

    def test_round_trip_over_a_pipe(self):
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        with os.fdopen(write_fd, "wb", buffering=0):
            writer = fd_writer(write_fd)
            writer.send({"a": 1})
            writer.send({"b": ["x" * 30000]})
        reader = fd_reader(read_fd)
        self.assertEqual(read_all(reader), [{"a": 1}, {"b": ["x" * 30000]}])

    def test_messages_are_single_lines(self):
        written = []
        Writer(lambda data: written.append(bytes(data)) or len(data)).send({"s": "a\nb"})
        line = b"".join(written)
        self.assertEqual(line.count(b"\n"), 1)
        self.assertEqual(json.loads(line), {"s": "a\nb"})


if __name__ == "__main__":
    unittest.main()
