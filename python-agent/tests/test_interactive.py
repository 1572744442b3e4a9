"""A session agent process driven as the broker drives it: stdin, input replies, SIGINT, completion."""

import resource
import signal
import tempfile
import unittest

from tests.agentproc import AgentProcess, execute


def reply(seq, value, execute_id=1):
    return {"type": "input_reply", "id": execute_id, "seq": seq, "value": value}


class SessionAgentTest(unittest.TestCase):
    mode = "session"

    def setUp(self):
        cwd = tempfile.TemporaryDirectory()
        self.addCleanup(cwd.cleanup)
        self.agent = AgentProcess(self.mode, cwd.name)
        self.addCleanup(self.stop)
        if self.mode == "session":  # as the broker does: fd 0 is at EOF for the whole session
            self.agent.proc.stdin.close()
            self.agent.proc.stdin = None
        self.assertEqual(self.agent.next_message()["type"], "ready")

    def stop(self):
        if self.agent.proc.poll() is None:
            self.agent.finish()

    def run_code(self, code, execute_id=1, **fields):
        message = execute(code, execute_id=execute_id)
        message.update(fields)
        self.agent.send(message)
        return self.agent.next_message()


class InteractiveTest(SessionAgentTest):
    def test_round_trip_with_a_stale_reply_and_eof(self):
        code = "print('before')\nname = input('Name? ')\nsecond = input()"
        self.assertEqual(self.run_code(code, 4, interactive=True, cell=1),
                         {"type": "input", "id": 4, "seq": 1, "prompt": "Name? ", "password": False})
        self.agent.send(reply(1, "old", execute_id=3))  # stale: another run's
        self.agent.send(reply(2, "early", execute_id=4))  # stale: not the seq being waited for
        self.agent.send(reply(1, "Ada\n", execute_id=4))
        self.assertEqual(self.agent.next_message(),
                         {"type": "input", "id": 4, "seq": 2, "prompt": "", "password": False})
        self.agent.send(reply(2, None, execute_id=4))
        error = self.agent.next_message()["error"]
        self.assertEqual((error["type"], error["traceback"][1]), ("EOFError", '  File "<cell-1>", line 3, in <module>'))
        self.assertEqual(self.run_code("name", 5)["value"], {"text/plain": "'Ada'"})
        finished = self.agent.finish()
        self.assertEqual((finished.returncode, finished.stdout, finished.stderr), (0, b"before\n", b""))

    def test_getpass(self):
        self.assertEqual(self.run_code("import getpass\ngetpass.getpass()", 2, interactive=True),
                         {"type": "input", "id": 2, "seq": 1, "prompt": "Password: ", "password": True})
        self.agent.send(reply(1, "s3cret", execute_id=2))
        self.assertEqual(self.agent.next_message()["value"], {"text/plain": "'s3cret'"})

    def test_sigint_while_waiting(self):
        self.run_code("kept = 42", 1)
        self.assertEqual(self.run_code("x = input('? ')", 2, interactive=True)["type"], "input")
        self.agent.proc.send_signal(signal.SIGINT)
        error = self.agent.next_message()["error"]
        self.assertEqual((error["type"], error["traceback"][-1]), ("KeyboardInterrupt", "KeyboardInterrupt"))
        self.agent.send(reply(1, "too late", execute_id=2))  # outside a wait: ignored
        self.assertEqual(self.run_code("kept", 3)["value"], {"text/plain": "42"})
        self.assertEqual(self.run_code("input('again? ')", 4, interactive=True)["seq"], 1)
        self.agent.send(reply(1, "yes", execute_id=4))
        self.assertEqual(self.agent.next_message()["value"], {"text/plain": "'yes'"})

    def test_bad_reply_ends_the_agent(self):
        self.run_code("input()", 1, interactive=True)
        self.agent.send({"type": "input_reply", "id": 1, "seq": 1, "value": 7})
        finished = self.agent.finish()
        self.assertEqual((finished.returncode, finished.messages), (70, []))
        self.assertEqual(finished.stderr,
                         b"pycell-agent: protocol error: input_reply.value: expected a string or null, got 7\n")


class StdinTest(SessionAgentTest):
    def test_input_reads_the_run_stdin_then_eof(self):
        result = self.run_code("a = input('first? ')\nb = input('second? ')", 1, stdin="a\n")
        self.assertEqual((result["error"]["type"], result["error"]["message"]), ("EOFError", "EOF when reading a line"))
        self.assertEqual(self.run_code("a, input.__module__", 2)["value"], {"text/plain": "('a', 'builtins')"})
        self.assertEqual(self.run_code("import sys\nsys.stdin.read()", 3)["value"], {"text/plain": "''"})
        code = "import subprocess\nsubprocess.run(['cat'], capture_output=True).stdout"
        self.assertEqual(self.run_code(code, 4, stdin="not for cat")["value"], {"text/plain": "b''"})
        self.assertEqual(self.agent.finish().stdout, b"first? second? ")

    def test_rlimits_subset(self):
        code = "import resource\n[resource.getrlimit(getattr(resource, 'RLIMIT_' + n)) for n in ('NOFILE', 'CPU')]"
        cpu = resource.getrlimit(resource.RLIMIT_CPU)  # inherited: the session sent no CPU limit
        result = self.run_code(code, 1, rlimits={"NOFILE": 32})
        self.assertEqual(result["value"], {"text/plain": "[(32, 32), %r]" % (cpu,)})

    def test_matplotlib_backend_is_set_and_importable_by_name(self):
        code = ("import os, importlib.util\n"
                "(os.environ['MPLBACKEND'], importlib.util.find_spec('pycell_agent.mplbackend') is not None)")
        self.assertEqual(self.run_code(code, 1)["value"], {"text/plain": "('module://pycell_agent.mplbackend', True)"})
        code = "import subprocess\nsubprocess.run(['sh', '-c', 'echo $MPLBACKEND'], capture_output=True).stdout"
        self.assertEqual(self.run_code(code, 2)["value"],  # not inherited (see protocol/agent.md, Figures)
                         {"text/plain": "b'\\n'"})


class CompleteTest(SessionAgentTest):
    def complete(self, code, cursor, complete_id=9):
        self.agent.send({"type": "complete", "id": complete_id, "code": code, "cursor": cursor})
        return self.agent.next_message()

    def test_completion(self):
        self.run_code("import os\nclass Loud:\n    @property\n    def noisy(self):\n        print('got')\n"
                      "        return 1\nloud = Loud()", 1)
        self.assertEqual(self.complete("os.pa", 5),
                         {"type": "completion", "id": 9, "matches": ["pardir", "path", "pathconf", "pathconf_names",
                                                                      "pathsep"], "cursorStart": 3, "cursorEnd": 5})
        self.assertEqual(self.complete("loud.noisy.real", 15)["matches"], ["real"])
        self.assertEqual(self.complete("ö = lou", 7)["matches"], ["loud"])
        self.assertEqual(self.agent.finish().stdout, b"got\n")  # the getter ran and printed

    def test_bad_complete(self):
        bad = {"type": "completion", "id": 3, "matches": [], "cursorStart": 0, "cursorEnd": 0}
        self.assertEqual(self.complete("abc", 4, complete_id=3), bad)
        self.agent.send({"type": "complete", "id": 3, "code": None, "cursor": 0})
        self.assertEqual(self.agent.next_message(), bad)
        self.agent.send({"type": "complete", "id": "x", "code": "", "cursor": 0})
        finished = self.agent.finish()
        self.assertEqual(finished.returncode, 70)
        self.assertEqual(finished.stderr, b"pycell-agent: protocol error: complete.id: expected an integer, got 'x'\n")


class SingleModeTest(SessionAgentTest):
    mode = "single"

    def test_interactive_input(self):
        self.assertEqual(self.run_code("input('? ')", 1, interactive=True, stdin="ignored")["type"], "input")
        self.agent.send(reply(1, "from the client"))
        self.assertEqual(self.agent.next_message()["value"], {"text/plain": "'from the client'"})
        finished = self.agent.finish(stdin=b"fd 0 untouched")
        self.assertEqual(finished.returncode, 0)


if __name__ == "__main__":
    unittest.main()
