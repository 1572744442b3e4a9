"""main.py as a process, driven as the broker drives it. Benign code only: these are not sandboxed."""

import base64
import os
import signal
import sys
import tempfile
import unittest

from tests.agentproc import AGENT_DIR, AgentProcess, execute, run_single

NO_AUDIT = {"events": [], "dropped": 0}


class AgentTestCase(unittest.TestCase):
    def setUp(self):
        cwd = tempfile.TemporaryDirectory()
        self.addCleanup(cwd.cleanup)
        self.cwd = cwd.name

    def single(self, code, stdin=b"", **fields):
        return run_single(self.cwd, execute(code, **fields), stdin)

    def result(self, finished):
        self.assertEqual(finished.messages[0]["type"], "ready")
        self.assertEqual(finished.messages[-1]["type"], "result")
        return finished.messages[-1]


class SingleModeTest(AgentTestCase):
    def test_ready(self):
        agent = AgentProcess("single", self.cwd)
        ready = agent.next_message()
        finished = agent.finish()
        self.assertEqual(ready, {"type": "ready", "pid": agent.proc.pid, "python": "%d.%d.%d" % sys.version_info[:3]})
        self.assertEqual((finished.returncode, finished.messages, finished.stdout, finished.stderr), (0, [], b"", b""))

    def test_print(self):
        finished = self.single("print(1 + 1)")
        self.assertEqual(self.result(finished), {"type": "result", "id": 1, "status": "ok", "audit": NO_AUDIT})
        self.assertEqual((finished.returncode, finished.stdout, finished.stderr), (0, b"2\n", b""))

    def test_value(self):
        finished = self.single("1 + 1")
        self.assertEqual(self.result(finished)["value"], {"text/plain": "2"})
        self.assertEqual(finished.stdout, b"")

    def test_exception(self):
        finished = self.single("print('before')\n1 / 0")
        error = self.result(finished)["error"]
        self.assertEqual((error["type"], error["traceback"][1]), ("ZeroDivisionError", '  File "<cell>", line 2, in <module>'))
        self.assertEqual((finished.returncode, finished.stdout, finished.stderr), (1, b"before\n", b""))

    def test_sys_exit(self):
        rows = [
            ("import sys; sys.exit(3)", 3, "3", b""),
            ("import sys; sys.exit('bye')", 1, "bye", b"bye\n"),
        ]
        for code, returncode, message, stderr in rows:
            with self.subTest(code=code):
                finished = self.single(code)
                error = self.result(finished)["error"]
                self.assertEqual((error["type"], error["message"]), ("SystemExit", message))
                self.assertEqual((finished.returncode, finished.stderr), (returncode, stderr))

    def test_sys_exit_zero_is_success(self):
        finished = self.single("import sys; sys.exit(0)")
        self.assertEqual((self.result(finished)["status"], finished.returncode), ("ok", 0))

    def test_files_are_written(self):
        files = [{"path": "data/in.txt", "content": base64.b64encode(b"file text").decode()}]
        finished = self.single("print(open('data/in.txt').read())", files=files)
        self.assertEqual(finished.stdout, b"file text\n")
        with open(os.path.join(self.cwd, "data", "in.txt"), "rb") as f:
            self.assertEqual(f.read(), b"file text")

    def test_refused_file_means_exit_70_and_no_run(self):
        finished = self.single("print('ran')", files=[{"path": "/etc/x", "content": ""}])
        error = self.result(finished)["error"]
        self.assertEqual((error["type"], error["message"]), ("AgentError", "files: '/etc/x': absolute path"))
        self.assertEqual((finished.returncode, finished.stdout), (70, b""))

    def test_stdin(self):
        finished = self.single("import sys\nprint(sys.stdin.read().upper())", stdin=b"hello")
        self.assertEqual(finished.stdout, b"HELLO\n")

    def test_display_comes_before_the_result(self):
        finished = self.single("display(1 + 1, 'x')\nprint('after')\n3", execute_id=5)
        self.assertEqual(finished.messages[1:], [
            {"type": "display", "id": 5, "data": {"text/plain": "2"}},
            {"type": "display", "id": 5, "data": {"text/plain": "'x'"}},
            {"type": "result", "id": 5, "status": "ok", "value": {"text/plain": "3"}, "audit": NO_AUDIT},
        ])
        self.assertEqual(finished.stdout, b"after\n")

    def test_user_sees_no_agent_internals(self):
        code = ("import os, sys, __main__\n"
                "fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
                "(sorted(globals()), __main__.__dict__ is globals(), sys.argv, %r in sys.path, fds,"
                " os.get_inheritable(4))" % AGENT_DIR)
        value = self.result(self.single(code))["value"]["text/plain"]
        # fd 3 stays open until the broker releases the agent (protocol/agent.md, step 6);
        # listdir's own fd takes number 5. Nothing else is inherited.
        self.assertEqual(value, "(['__builtins__', '__doc__', '__loader__', '__main__', '__name__', '__package__', "
                                "'__spec__', 'display', 'fds', 'os', 'sys'], True, [''], False, [0, 1, 2, 3, 4, 5], False)")

    def test_rlimits_are_in_force(self):
        code = "import resource\nresource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_CPU)"
        value = self.result(self.single(code))["value"]
        self.assertEqual(value, {"text/plain": "((64, 64), (10, 10))"})

    def test_garbage_on_the_control_channel(self):
        agent = AgentProcess("single", self.cwd)
        agent.send_raw(b"not json\n")
        finished = agent.finish()
        self.assertEqual([m["type"] for m in finished.messages], ["ready"])
        self.assertEqual(finished.returncode, 70)
        self.assertTrue(finished.stderr.startswith(b"pycell-agent: protocol error: control line is not JSON"))

    def test_bad_usage(self):
        agent = AgentProcess("bogus", self.cwd)
        finished = agent.finish()
        self.assertEqual((finished.returncode, finished.messages), (70, []))
        self.assertEqual(finished.stderr, b"pycell-agent: usage: main.py --mode single|session|process [--module-policy JSON]\n")


class SessionModeTest(AgentTestCase):
    def start(self):
        agent = AgentProcess("session", self.cwd)
        self.assertEqual(agent.next_message()["type"], "ready")
        return agent

    def ask(self, agent, code, execute_id, **fields):
        agent.send(execute(code, execute_id=execute_id, **fields))
        return agent.next_message()

    def test_variables_persist(self):
        agent = self.start()
        self.assertEqual(self.ask(agent, "x = 20", 1), {"type": "result", "id": 1, "status": "ok", "audit": NO_AUDIT})
        self.assertEqual(self.ask(agent, "x * 2 + 2", 2)["value"], {"text/plain": "42"})
        finished = agent.finish()
        self.assertEqual((finished.returncode, finished.messages, finished.stderr), (0, [], b""))

    def test_sys_exit_and_errors_do_not_end_the_session(self):
        agent = self.start()
        error = self.ask(agent, "import sys\nsys.exit(3)", 1)["error"]
        self.assertEqual((error["type"], error["message"]), ("SystemExit", "3"))
        self.assertEqual(self.ask(agent, "sys.exit(0)", 2), {"type": "result", "id": 2, "status": "ok", "audit": NO_AUDIT})
        self.assertEqual(self.ask(agent, "1 / 0", 3)["error"]["type"], "ZeroDivisionError")
        self.assertEqual(self.ask(agent, "'still here'", 4)["value"], {"text/plain": "'still here'"})
        self.assertEqual(agent.finish().returncode, 0)

    def test_warm_up_leaves_nothing_to_import(self):
        agent = self.start()
        self.ask(agent, "import sys\nbefore = set(sys.modules)", 1)
        display = self.ask(agent, "class A:\n    def _repr_png_(self):\n        return b'x'\n"
                                  "display(A())\n1 / 0", 2)
        self.assertEqual(display["data"]["image/png"], "eA==")
        self.assertEqual(agent.next_message()["error"]["type"], "ZeroDivisionError")
        self.assertEqual(self.ask(agent, "1 +", 3)["error"]["type"], "SyntaxError")
        self.assertEqual(self.ask(agent, "sorted(set(sys.modules) - before)", 4)["value"], {"text/plain": "[]"})
        agent.finish()

    def test_sigint_interrupts_the_run_only(self):
        agent = self.start()
        agent.proc.send_signal(signal.SIGINT)  # idle: dropped
        agent.send(execute("import time\ndisplay('started')\ntime.sleep(10)", execute_id=1))
        self.assertEqual(agent.next_message()["type"], "display")
        agent.proc.send_signal(signal.SIGINT)
        error = agent.next_message()["error"]
        self.assertEqual((error["type"], error["traceback"][-1]), ("KeyboardInterrupt", "KeyboardInterrupt"))
        self.assertEqual(self.ask(agent, "1 + 1", 2)["value"], {"text/plain": "2"})
        self.assertEqual(agent.finish().returncode, 0)


if __name__ == "__main__":
    unittest.main()
