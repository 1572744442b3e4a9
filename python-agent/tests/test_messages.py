"""The broker's new fields and messages: accepted as given, refused with the field named."""

import unittest

from pycell_agent import messages


def execute(**fields):
    message = {"type": "execute", "id": 1, "code": "1", "files": [], "rlimits": {}, "reprLimit": 100}
    message.update(fields)
    return message


def refusal(parse, message):
    try:
        parse(message)
    except messages.BadRequest as exc:
        return exc.request_id, str(exc)
    return None


class ExecuteFieldsTest(unittest.TestCase):
    def test_optional_fields(self):
        rows = [
            (execute(), (None, None, False)),
            (execute(stdin="a\n", cell=3, interactive=True), ("a\n", 3, True)),
            (execute(stdin="", interactive=False), ("", None, False)),
            (execute(rlimits={"AS": 1 << 30, "NOFILE": 64}), (None, None, False)),
        ]
        for message, expected in rows:
            with self.subTest(message=message):
                request = messages.parse_execute(message)
                self.assertEqual((request.stdin, request.cell, request.interactive), expected)

    def test_bad_values(self):
        rows = [
            (execute(stdin=5), "execute.stdin: expected a string, got 5"),
            (execute(stdin=None), "execute.stdin: expected a string, got None"),
            (execute(stdin=b"x"), "execute.stdin: expected a string, got b'x'"),
            (execute(cell=0), "execute.cell: expected a positive integer, got 0"),
            (execute(cell=-2), "execute.cell: expected a positive integer, got -2"),
            (execute(cell=1.0), "execute.cell: expected a positive integer, got 1.0"),
            (execute(cell=True), "execute.cell: expected a positive integer, got True"),
            (execute(cell="1"), "execute.cell: expected a positive integer, got '1'"),
            (execute(interactive=1), "execute.interactive: expected a boolean, got 1"),
            (execute(interactive=None), "execute.interactive: expected a boolean, got None"),
            (execute(interactive="true"), "execute.interactive: expected a boolean, got 'true'"),
        ]
        for message, text in rows:
            with self.subTest(text=text):
                self.assertEqual(refusal(messages.parse_execute, message), (1, text))


class CompleteTest(unittest.TestCase):
    def test_accepted(self):
        rows = [
            ({"type": "complete", "id": 4, "code": "os.pa", "cursor": 5}, (4, "os.pa", 5)),
            ({"type": "complete", "id": 4, "code": "", "cursor": 0}, (4, "", 0)),
            ({"type": "complete", "id": 0, "code": "é.x", "cursor": 1}, (0, "é.x", 1)),
        ]
        for message, expected in rows:
            with self.subTest(message=message):
                request = messages.parse_complete(message)
                self.assertEqual((request.id, request.code, request.cursor), expected)

    def test_refused(self):
        rows = [
            ({"type": "completion", "id": 1}, (None, "expected a complete message, got type 'completion'")),
            ({"type": "complete", "code": "x", "cursor": 0}, (None, "complete.id: expected an integer, got nothing")),
            ({"type": "complete", "id": "1", "code": "x", "cursor": 0}, (None, "complete.id: expected an integer, got '1'")),
            ({"type": "complete", "id": 2, "code": 5, "cursor": 0}, (2, "complete.code: expected a string, got 5")),
            ({"type": "complete", "id": 2, "code": "abc", "cursor": 4},
             (2, "complete.cursor: expected an integer from 0 to 3, got 4")),
            ({"type": "complete", "id": 2, "code": "abc", "cursor": -1},
             (2, "complete.cursor: expected an integer from 0 to 3, got -1")),
            ({"type": "complete", "id": 2, "code": "abc", "cursor": False},
             (2, "complete.cursor: expected an integer from 0 to 3, got False")),
        ]
        for message, expected in rows:
            with self.subTest(message=message):
                self.assertEqual(refusal(messages.parse_complete, message), expected)


class InputReplyTest(unittest.TestCase):
    def test_accepted(self):
        for value in ("Ada", "", "two\nlines\n", None):
            with self.subTest(value=value):
                reply = messages.parse_input_reply({"type": "input_reply", "id": 3, "seq": 1, "value": value})
                self.assertEqual((reply.id, reply.seq, reply.value), (3, 1, value))

    def test_refused(self):
        rows = [
            ({"type": "input_reply", "seq": 1, "value": "x"}, (None, "input_reply.id: expected an integer, got nothing")),
            ({"type": "input_reply", "id": 3, "seq": 0, "value": "x"},
             (3, "input_reply.seq: expected a positive integer, got 0")),
            ({"type": "input_reply", "id": 3, "seq": 1}, (3, "input_reply.value: expected a string or null, got nothing")),
            ({"type": "input_reply", "id": 3, "seq": 1, "value": 5},
             (3, "input_reply.value: expected a string or null, got 5")),
        ]
        for message, expected in rows:
            with self.subTest(message=message):
                self.assertEqual(refusal(messages.parse_input_reply, message), expected)

    def test_our_messages(self):
        self.assertEqual(messages.input_request(7, 2, "Name? ", False),
                         {"type": "input", "id": 7, "seq": 2, "prompt": "Name? ", "password": False})
        self.assertEqual(messages.completion(8, ["path"], 3, 5),
                         {"type": "completion", "id": 8, "matches": ["path"], "cursorStart": 3, "cursorEnd": 5})


if __name__ == "__main__":
    unittest.main()
