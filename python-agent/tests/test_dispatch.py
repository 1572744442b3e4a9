import base64
import os
import tempfile
import unittest

from pycell_agent import messages, wire
from pycell_agent.dispatch import EXIT_AGENT_ERROR, Agent, parse_mode

NO_AUDIT = {"events": [], "dropped": 0}


def execute(code="1 + 1", execute_id=1, **fields):
    message = {"type": "execute", "id": execute_id, "code": code, "files": [], "rlimits": {"CPU": 5},
               "reprLimit": 100}
    message.update(fields)
    return message


class ParseExecuteTest(unittest.TestCase):
    def test_accepted(self):
        request = messages.parse_execute(execute(files=[{"path": "a", "content": "eA=="}]))
        self.assertEqual((request.id, request.code, request.rlimits, request.repr_limit), (1, "1 + 1", {"CPU": 5}, 100))
        self.assertEqual(request.files, [{"path": "a", "content": "eA=="}])

    def test_refused(self):
        rows = [
            ({"type": "ping"}, None, "expected an execute message, got type 'ping'"),
            (execute(execute_id="1"), None, "execute.id: expected an integer, got '1'"),
            (execute(execute_id=True), None, "execute.id: expected an integer, got True"),
            (execute(code=5), 1, "execute.code: expected a string, got 5"),
            (execute(files=[{"path": "a"}]), 1,
             "execute.files: expected a list of {path: string, content: base64 string}, got [{'path': 'a'}]"),
            (execute(rlimits={"CPU": 1.5}), 1, "execute.rlimits: expected an object of integers, got {'CPU': 1.5}"),
            (execute(reprLimit=-1), 1, "execute.reprLimit: expected a non-negative integer, got -1"),
        ]
        for message, execute_id, text in rows:
            with self.subTest(text=text):
                with self.assertRaises(messages.BadRequest) as caught:
                    messages.parse_execute(message)
                self.assertEqual((caught.exception.request_id, str(caught.exception)), (execute_id, text))

    def test_parse_mode(self):
        rows = [
            (["--mode", "single"], "single"),
            (["--mode", "session"], "session"),
            (["--mode=session"], "session"),
            (["--mode", "other"], None),
            ([], None),
            (["single"], None),
        ]
        for argv, mode in rows:
            with self.subTest(argv=argv):
                self.assertEqual(parse_mode(argv), mode)


class AgentTest(unittest.TestCase):
    """Agent.handle in-process, with a temporary root and recorded setrlimit calls."""

    def setUp(self):
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        self.root = root.name
        self.sent, self.applied = [], []
        self.agent = Agent(self.sent.append, root=self.root, apply_rlimits=self.applied.append)

    def test_ok(self):
        result, outcome = self.agent.handle(execute())
        self.assertEqual(result, {"type": "result", "id": 1, "status": "ok", "value": {"text/plain": "2"},
                                  "audit": NO_AUDIT})
        self.assertEqual(outcome.exit_code, 0)

    def test_ok_without_value_has_no_value_key(self):
        result, _ = self.agent.handle(execute("x = 1"))
        self.assertEqual(result, {"type": "result", "id": 1, "status": "ok", "audit": NO_AUDIT})

    def test_rlimits_are_applied_once(self):
        self.agent.handle(execute(execute_id=1))
        self.agent.handle(execute(execute_id=2, rlimits={"CPU": 99}))
        self.assertEqual(self.applied, [{"CPU": 5}])

    def test_files_are_written_before_the_code_runs(self):
        files = [{"path": "in/data.txt", "content": base64.b64encode(b"hello").decode()}]
        code = "with open(%r) as f:\n    text = f.read()\ntext" % os.path.join(self.root, "in", "data.txt")
        result, _ = self.agent.handle(execute(code, files=files))
        self.assertEqual(result["value"], {"text/plain": "'hello'"})

    def assertAgentError(self, result, outcome, text):
        self.assertEqual(result["error"], {"type": "AgentError", "message": text, "traceback": ["AgentError: " + text]})
        self.assertEqual(outcome.exit_code, EXIT_AGENT_ERROR)

    def test_refused_file_means_no_run(self):
        files = [{"path": "../x", "content": ""}]
        result, outcome = self.agent.handle(execute("ran = True", files=files))
        self.assertAgentError(result, outcome, "files: '../x': '..' component")
        self.assertNotIn("ran", self.agent.session.namespace)
        self.assertEqual(self.applied, [])

    def test_failed_rlimits_mean_no_run_and_a_retry(self):
        def refuse(rlimits):
            raise ValueError("rlimits.CPU: nope")

        self.agent.apply_rlimits = refuse
        result, outcome = self.agent.handle(execute("ran = True"))
        self.assertAgentError(result, outcome, "rlimits.CPU: nope")
        self.assertNotIn("ran", self.agent.session.namespace)
        self.agent.apply_rlimits = self.applied.append
        self.agent.handle(execute("ran = True", execute_id=2))
        self.assertEqual((self.applied, self.agent.session.namespace["ran"]), ([{"CPU": 5}], True))

    def test_bad_field_with_a_usable_id(self):
        result, outcome = self.agent.handle(execute(code=None, execute_id=4))
        self.assertEqual(result["id"], 4)
        self.assertAgentError(result, outcome, "execute.code: expected a string, got None")

    def test_unusable_id_is_a_protocol_error(self):
        with self.assertRaises(wire.ProtocolError):
            self.agent.handle({"type": "execute", "code": "1"})

    def test_agent_bug_becomes_an_error_result(self):
        def broken(*args, **kwargs):
            raise RuntimeError("boom")

        self.agent.session.execute = broken
        result, outcome = self.agent.handle(execute())
        self.assertEqual(result["error"]["type"], "AgentError")
        self.assertRegex(result["error"]["message"], r"^internal error: RuntimeError: boom \(test_dispatch\.py:\d+\)$")
        self.assertEqual(outcome.exit_code, EXIT_AGENT_ERROR)


if __name__ == "__main__":
    unittest.main()
