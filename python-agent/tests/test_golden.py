"""The golden messages in protocol/examples/agent/ are what this agent really sends and accepts."""

import base64
import json
import os
import sys
import tempfile
import unittest

from pycell_agent import forkserver, messages
from tests.agentproc import AGENT_DIR, AgentProcess, run_single

EXAMPLES = os.path.join(os.path.dirname(AGENT_DIR), "protocol", "examples", "agent")

# The execute example, exactly; its result is result-ok.json.
EXECUTE = {
    "type": "execute",
    "id": 1,
    "code": 'with open("data/greeting.txt") as f:\n    print(f.read().strip())\n1 + 1\n',
    "files": [{"path": "data/greeting.txt", "content": base64.b64encode(b"hello from a file\n").decode()}],
    "rlimits": {"CPU": 10, "AS": 536870912, "NPROC": 64, "FSIZE": 16777216, "NOFILE": 256, "CORE": 0,
                "STACK": 8388608},
    "reprLimit": 10000,
}
DISPLAY_CODE = (
    "class Money:\n"
    "    def __init__(self, amount, currency):\n"
    "        self.amount, self.currency = amount, currency\n"
    "    def __repr__(self):\n"
    "        return f'Money({self.amount!r}, {self.currency!r})'\n"
    "    def _repr_html_(self):\n"
    "        return f'<b>{self.amount:.2f}</b> {self.currency}'\n"
    "\n"
    "display(Money(3.5, 'EUR'))\n"
)
ERROR_CODE = "def ratio(a, b):\n    return a / b\n\nratio(1, 0)\n"


def load(name):
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
        return json.load(f)


def shape(value):
    """Keys and JSON types, recursively: what a schema would check."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


class GoldenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as cwd:
            cls.ok = run_single(cwd, EXECUTE)
            cls.display = run_single(cwd, dict(EXECUTE, code=DISPLAY_CODE, files=[]))
            cls.error = run_single(cwd, dict(EXECUTE, code=ERROR_CODE, files=[]))
        with tempfile.TemporaryDirectory() as cwd:
            cls.files = run_single(cwd, load("execute-files.json"))

    def test_execute_is_accepted_as_is(self):
        self.assertEqual(load("execute.json"), EXECUTE)
        request = messages.parse_execute(load("execute.json"))
        self.assertEqual(sorted(request.rlimits), ["AS", "CORE", "CPU", "FSIZE", "NOFILE", "NPROC", "STACK"])
        self.assertEqual((self.ok.returncode, self.ok.stdout), (0, b"hello from a file\n"))

    def test_ready(self):
        golden, real = load("ready.json"), self.ok.messages[0]
        self.assertEqual(shape(golden), shape(real))
        self.assertEqual(golden["type"], "ready")

    def test_result_ok(self):
        self.assertEqual(load("result-ok.json"), self.ok.messages[-1])

    def test_files_out_and_audit(self):
        # Only out/* was asked for (notes.txt is not returned); the open outside the working directory is audited.
        self.assertEqual(load("result-files.json"), self.files.messages[-1])
        self.assertEqual(self.files.returncode, 0)

    def test_display(self):
        self.assertEqual(load("display.json"), self.display.messages[1])

    def test_result_error(self):
        golden, real = load("result-error.json"), self.error.messages[-1]
        self.assertEqual(shape(golden), shape(real))
        if sys.version_info[:2] == (3, 11):  # the example was recorded on 3.11; carets vary by version
            self.assertEqual(golden, real)
        else:
            self.assertEqual(golden["error"]["traceback"][-1], real["error"]["traceback"][-1])


class SessionGoldenTest(unittest.TestCase):
    """execute-session → input → input_reply → result, then complete → completion, in one session."""

    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as cwd:
            agent = AgentProcess("session", cwd)
            agent.proc.stdin.close()  # as the broker does for a session
            agent.proc.stdin = None
            try:
                agent.next_message()  # ready
                agent.send(load("execute-session.json"))
                cls.input = agent.next_message()
                agent.send(load("input_reply.json"))
                cls.result = agent.next_message()
                agent.send(load("complete.json"))
                cls.completion = agent.next_message()
            finally:
                cls.finished = agent.finish()

    def test_execute_session_is_accepted_as_is(self):
        request = messages.parse_execute(load("execute-session.json"))
        self.assertEqual((request.stdin, request.cell, request.interactive), ("hello\n", 3, True))
        self.assertNotIn("CPU", request.rlimits)  # sessions have no CPU-seconds limit
        self.assertEqual(self.result, {"type": "result", "id": 7, "status": "ok",
                                       "value": {"text/plain": "'Ada says hello'"},
                                       "audit": {"events": [], "dropped": 0}})
        self.assertEqual((self.finished.returncode, self.finished.stdout, self.finished.stderr), (0, b"", b""))

    def test_input(self):
        self.assertEqual(load("input.json"), self.input)

    def test_input_reply_is_accepted(self):
        reply = messages.parse_input_reply(load("input_reply.json"))
        self.assertEqual((reply.id, reply.seq), (self.input["id"], self.input["seq"]))

    def test_complete_and_completion(self):
        request = messages.parse_complete(load("complete.json"))
        self.assertEqual((request.code, request.cursor), ("os.pa", 5))
        self.assertEqual(load("completion.json"), self.completion)


if __name__ == "__main__":
    unittest.main()


class ForkServerGoldenTest(unittest.TestCase):
    """Process mode's fd 7 messages, as the fork server builds them (the server itself needs a sandbox)."""

    def test_ended_is_the_example(self):
        self.assertEqual(forkserver.ended(1, 0, 14680064), load("ended.json"))  # wait status 0: exit code 0

    def test_cleaned_is_the_example(self):
        self.assertEqual(forkserver.cleaned(1, 4), load("cleaned.json"))
