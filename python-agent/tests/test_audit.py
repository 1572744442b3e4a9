"""The audit hook and the module policy.

sys.addaudithook is process-wide and permanent, so this process never installs the hook: the unit
tests call Auditor.hook directly, and the end-to-end tests run main.py, which installs it.
"""

import json
import os
import sys
import tempfile
import unittest

from pycell_agent import audit
from pycell_agent.dispatch import parse_args
from tests.agentproc import AgentProcess, execute, run_single

NO_AUDIT = {"events": [], "dropped": 0}
BLOCKED = "import of %r is blocked by the operator's module policy (advisory: this is not a security boundary)"
O_CLOEXEC = os.O_CLOEXEC


class UserObject:
    calls = []

    def __repr__(self):
        UserObject.calls.append("repr")
        return "pwned"

    def __fspath__(self):
        UserObject.calls.append("fspath")
        return "/pwned"


class SneakyStr(str):
    def __repr__(self):
        return "pwned"


class AuditorTestCase(unittest.TestCase):
    """A fresh Auditor whose working directory is a temporary one, also the process's cwd."""

    def setUp(self):
        handle = tempfile.TemporaryDirectory()
        self.addCleanup(handle.cleanup)
        self.root = os.path.realpath(handle.name)
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.root)
        self.auditor = self.make()

    def make(self, policy=None):
        auditor = audit.Auditor(policy, root=self.root)
        auditor.begin()
        return auditor

    def events(self, auditor=None):
        return [(e["event"], e["detail"], e["count"]) for e in (auditor or self.auditor).report()["events"]]


class RecordingTest(AuditorTestCase):
    def test_recorded_events(self):
        rows = [
            ("socket.connect", (object(), ("10.0.0.1", 80)), "socket.connect", "('10.0.0.1', 80)"),
            ("socket.bind", (object(), "/run/x.sock"), "socket.bind", "'/run/x.sock'"),
            ("socket.connect", (object(), ("::1", 22, 0, 0)), "socket.connect", "('::1', 22, 0, 0)"),
            ("subprocess.Popen", ("/bin/ls", ["/bin/ls", "-l"], None, None), "subprocess.Popen", "['/bin/ls', '-l']"),
            ("subprocess.Popen", ("/bin/sh", ["sh", "-c", "id"], None, None), "subprocess.Popen",
             "'/bin/sh' ['sh', '-c', 'id']"),
            ("os.system", (b"rm -rf x",), "os.system", "'rm -rf x'"),
            ("os.exec", ("/bin/true", ["true"], None), "os.exec", "'/bin/true'"),
            ("os.posix_spawn", (b"/bin/true", [b"true"], None), "os.posix_spawn", "'/bin/true'"),
            ("os.fork", (), "os.fork", ""),
            ("os.forkpty", (), "os.forkpty", ""),
            ("ctypes.dlopen", ("libc.so.6",), "ctypes.dlopen", "'libc.so.6'"),
            ("ctypes.dlopen", (None,), "ctypes.dlopen", "None"),
            ("open", ("/etc/passwd", "r", O_CLOEXEC), "open", "'/etc/passwd', 'r'"),
            ("open", ("/etc/passwd", None, os.O_RDONLY), "open", "'/etc/passwd', flags=0x0"),
            ("open", ("/etc/passwd", None, os.O_WRONLY | os.O_CREAT), "open", "'/etc/passwd', flags=0x41"),
            ("open", (b"/etc/shadow", "rb", O_CLOEXEC), "open", "'/etc/shadow', 'rb'"),
            ("open", ("/usr/../etc/passwd", "r", O_CLOEXEC), "open", "'/etc/passwd', 'r'"),
            ("open", (os.path.join(sys.prefix, "x"), "w", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "open",
             "%r, 'w'" % os.path.join(sys.prefix, "x")),
            ("open", ("../elsewhere", "a", os.O_WRONLY | os.O_APPEND), "open",
             "%r, 'a'" % os.path.join(os.path.dirname(self.root), "elsewhere")),
            ("open", ("/etc/\udcff", "r", 0), "open", "'/etc/\\udcff', 'r'"),
            ("open", (b"/etc/\xff", "r", 0), "open", "'/etc/\\udcff', 'r'"),
        ]
        for event, args, recorded, detail in rows:
            with self.subTest(event=event, args=args):
                auditor = self.make()
                auditor.hook(event, args)
                self.assertEqual(self.events(auditor), [(recorded, detail, 1)])

    def test_not_recorded(self):
        rows = [
            ("open", ("inside.txt", "w", os.O_WRONLY | os.O_CREAT)),  # relative: the working directory
            ("open", ("sub/../x", "r+", os.O_RDWR)),
            ("open", (os.path.join(self.root, "x"), "w", os.O_WRONLY)),
            ("open", (os.path.join(sys.prefix, "lib", "x.py"), "r", O_CLOEXEC)),  # an import
            ("open", (os.path.join(os.path.dirname(audit.__file__), "x.py"), "r", O_CLOEXEC)),
            ("open", (3, "r", O_CLOEXEC)),  # an fd opened earlier
            ("import", ("socket", None, None, None, None)),  # no policy: imports are not recorded
            ("os.listdir", ("/etc",)),
            ("ctypes.dlsym", (None, "system")),
        ]
        for event, args in rows:
            with self.subTest(event=event, args=args):
                auditor = self.make()
                auditor.hook(event, args)
                self.assertEqual(auditor.report(), NO_AUDIT)

    def test_only_while_recording(self):
        auditor = audit.Auditor(root=self.root)
        auditor.hook("os.system", (b"before",))
        auditor.begin()
        auditor.hook("os.system", (b"during",))
        auditor.end()
        auditor.hook("os.system", (b"after",))
        auditor.begin(recording=False)  # a completion: the policy applies, nothing is counted
        auditor.hook("os.system", (b"completing",))
        self.assertEqual(self.events(auditor), [("os.system", "'during'", 1)])
        auditor.clear()
        self.assertEqual(auditor.report(), NO_AUDIT)

    def test_identical_events_are_counted(self):
        for _ in range(3):
            self.auditor.hook("socket.connect", (None, ("1.2.3.4", 443)))
        self.auditor.hook("socket.connect", (None, ("1.2.3.4", 80)))
        self.assertEqual(self.events(), [("socket.connect", "('1.2.3.4', 443)", 3),
                                         ("socket.connect", "('1.2.3.4', 80)", 1)])

    def test_at_most_64_distinct_events(self):
        for n in range(70):
            self.auditor.hook("os.system", (("cmd %d" % n).encode(),))
        self.auditor.hook("os.system", (b"cmd 0",))  # kept: counted
        self.auditor.hook("os.system", (b"cmd 69",))  # dropped before: dropped again
        report = self.auditor.report()
        self.assertEqual(len(report["events"]), 64)
        self.assertEqual(report["events"][0], {"event": "os.system", "detail": "'cmd 0'", "count": 2})
        self.assertEqual(report["events"][63], {"event": "os.system", "detail": "'cmd 63'", "count": 1})
        self.assertEqual(report["dropped"], 7)

    def test_details_are_short(self):
        self.auditor.hook("os.system", (b"x" * 500,))
        self.auditor.hook("subprocess.Popen", ("a", ["a"] + ["arg"] * 20, None, None))
        self.auditor.hook("socket.connect", (None, ((((("deep",),),),),)))
        self.assertEqual(self.events(), [
            ("os.system", "'" + "x" * 196 + "...", 1),
            ("subprocess.Popen", "['a', 'arg', 'arg', 'arg', 'arg', 'arg', 'arg', 'arg', ...]", 1),
            ("socket.connect", "((<tuple>,),)", 1),
        ])

    def test_user_objects_are_never_called(self):
        UserObject.calls = []
        self.auditor.hook("socket.connect", (None, UserObject()))
        self.auditor.hook("subprocess.Popen", (UserObject(), [UserObject()], None, None))
        self.auditor.hook("open", (UserObject(), "r", 0))
        self.auditor.hook("os.system", (SneakyStr("id"),))
        self.auditor.hook("open", (SneakyStr("/etc/x"), "r", 0))
        self.assertEqual(self.events(), [
            ("socket.connect", "<UserObject>", 1),
            ("subprocess.Popen", "<UserObject> [<UserObject>]", 1),
            ("os.system", "'id'", 1),
            ("open", "'/etc/x', 'r'", 1),
        ])
        self.assertEqual(UserObject.calls, [])

    def test_malformed_arguments_never_raise(self):
        rows = [("open", None), ("open", ()), ("socket.connect", ()), ("subprocess.Popen", (None,)),
                ("os.system", ()), ("import", ()), ("import", (None,))]
        for event, args in rows:
            with self.subTest(event=event, args=args):
                self.assertIsNone(self.auditor.hook(event, args))
        self.assertEqual(self.auditor.report(), NO_AUDIT)


def call_from(filename, auditor, name):
    """auditor.hook("import", ...) from a frame whose code has `filename`, as an import statement there would."""
    code = compile("hook('import', (name, None, None, None, None))", filename, "exec")
    exec(code, {"hook": auditor.hook, "name": name})


class PolicyTest(AuditorTestCase):
    def assertBlocked(self, auditor, name, caller=None):
        with self.assertRaises(ModuleNotFoundError) as caught:
            if caller is None:
                auditor.hook("import", (name, None, None, None, None))
            else:
                call_from(caller, auditor, name)
        self.assertEqual((str(caught.exception), caught.exception.name), (BLOCKED % name, name))

    def assertAllowed(self, auditor, name, caller=None):
        if caller is None:
            self.assertIsNone(auditor.hook("import", (name, None, None, None, None)))
        else:
            call_from(caller, auditor, name)

    def test_deny_applies_to_every_import_and_its_submodules(self):
        auditor = self.make(audit.Policy(deny=["socket", "xml"]))
        for name in ("socket", "xml", "xml.etree.ElementTree"):
            with self.subTest(name=name):
                self.assertBlocked(auditor, name)
        self.assertBlocked(auditor, "socket", caller="<cell-2>")
        for name in ("socketserver", "_socket", "xmlrpc", "json"):
            with self.subTest(name=name):
                self.assertAllowed(auditor, name)
        auditor.hook("import", ("_socket", "/usr/lib/python3/lib-dynload/_socket.so", None, None, None))
        self.assertEqual(self.events(auditor), [("import.denied", "socket", 2), ("import.denied", "xml", 1),
                                                ("import.denied", "xml.etree.ElementTree", 1)])

    def test_deny_outside_a_run(self):
        auditor = self.make(audit.Policy(deny=["socket"]))
        auditor.end()
        self.assertAllowed(auditor, "socket")  # between runs the hook returns at once
        auditor.begin(recording=False)
        self.assertBlocked(auditor, "socket")  # a completion: blocked, not recorded
        self.assertEqual(auditor.report(), NO_AUDIT)

    def test_allow_applies_to_imports_user_code_starts(self):
        auditor = self.make(audit.Policy(allow=["numpy_like"]))
        rows = [
            ("<cell>", "zz_not_loaded", False),
            ("<cell-12>", "zz_not_loaded", False),
            ("<string>", "zz_not_loaded", False),
            ("<stdin>", "zz_not_loaded", False),
            (os.path.join(self.root, "mine.py"), "zz_not_loaded", False),  # a file in the working directory
            ("<cell>", "numpy_like", True),
            ("<cell>", "numpy_like.linalg", True),
            ("<cell>", "os", True),  # imported by the agent already
            ("<cell>", "unittest.mock", True),  # parent imported already (here: by the test runner)
            ("<console>", "zz_not_loaded", True),
            ("<cellar>", "zz_not_loaded", True),
            ("/usr/lib/python3/dist-packages/numpy_like/__init__.py", "zz_not_loaded", True),  # a library's import
            (os.path.dirname(self.root) + "/x.py", "zz_not_loaded", True),
        ]
        for caller, name, allowed in rows:
            with self.subTest(caller=caller, name=name):
                if allowed:
                    self.assertAllowed(auditor, name, caller)
                else:
                    self.assertBlocked(auditor, name, caller)

    def test_importlib_frames_are_skipped(self):
        auditor = self.make(audit.Policy(allow=[]))
        rows = [
            (["<cell>", "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>"], False),
            (["<cell>", "/usr/lib/python3.11/library.py", "<frozen importlib._bootstrap>"], True),
            (["/usr/lib/python3.11/library.py", "<cell>"], False),
        ]
        for filenames, allowed in rows:
            with self.subTest(filenames=filenames):
                step = None
                for filename in reversed(filenames):  # innermost first: each calls the next one in
                    source = ("def step(hook, name):\n"
                              "    hook('import', (name, None, None, None, None)) if inner is None else inner(hook, name)\n")
                    namespace = {"inner": step}
                    exec(compile(source, filename, "exec"), namespace)
                    step = namespace["step"]
                if allowed:
                    step(auditor.hook, "zz_not_loaded")
                else:
                    with self.assertRaises(ModuleNotFoundError):
                        step(auditor.hook, "zz_not_loaded")

    def test_parse_policy(self):
        rows = [
            ('{"deny": ["socket", "ctypes"]}', ({"socket", "ctypes"}, None)),
            ('{"deny": [], "allow": ["numpy"]}', (set(), {"numpy"})),
            ('{"allow": null}', (set(), None)),
            ("{}", (set(), None)),
        ]
        for text, (deny, allow) in rows:
            with self.subTest(text=text):
                policy = audit.parse_policy(text)
                self.assertEqual((policy.deny, policy.allow), (deny, allow))

    def test_parse_policy_refused(self):
        rows = [
            ("nope", "not JSON: Expecting value: line 1 column 1 (char 0)"),
            ("[]", 'expected an object {"deny": [...], "allow": null | [...]}'),
            ('{"deny": "socket"}', "deny: expected a list of module names, got 'socket'"),
            ('{"deny": [""]}', "deny: expected a list of module names, got ['']"),
            ('{"deny": null}', "deny: expected a list of module names, got None"),
            ('{"allow": [1]}', "allow: expected null or a list of module names, got [1]"),
            ('{"block": [], "deny": []}', "unknown key 'block'"),
        ]
        for text, message in rows:
            with self.subTest(text=text):
                with self.assertRaises(ValueError) as caught:
                    audit.parse_policy(text)
                self.assertEqual(str(caught.exception), message)

    def test_parse_args(self):
        rows = [
            (["--mode", "single"], ("single", None)),
            (["--mode", "session", "--module-policy", "{}"], ("session", "{}")),
            (["--module-policy", '{"deny": []}', "--mode", "single"], ("single", '{"deny": []}')),
            (["--mode=single", "--module-policy={}"], ("single", "{}")),
            (["--mode", "single", "--module-policy"], None),
            (["--mode", "single", "--module-policy", "{}", "--module-policy", "{}"], None),
            (["--module-policy", "{}"], None),
        ]
        for argv, expected in rows:
            with self.subTest(argv=argv):
                self.assertEqual(parse_args(argv), expected)


class InterpreterDirsTest(unittest.TestCase):
    def test_own_directories_only(self):
        dirs = audit.interpreter_dirs()
        self.assertIn(os.path.normpath(sys.prefix), dirs)
        self.assertIn(os.path.dirname(os.path.dirname(os.path.abspath(audit.__file__))), dirs)
        self.assertNotIn("/", dirs)
        self.assertTrue(all(path.startswith("/") for path in dirs))


class AuditProcessTest(unittest.TestCase):
    """main.py installs the hook: events of the run, nothing of the agent's own work."""

    def setUp(self):
        cwd = tempfile.TemporaryDirectory()
        self.addCleanup(cwd.cleanup)
        self.cwd = cwd.name

    def start(self, policy=None):
        args = () if policy is None else ("--module-policy", json.dumps(policy))
        agent = AgentProcess("session", self.cwd, args=args)
        self.addCleanup(lambda: agent.proc.poll() is None and agent.finish())
        self.assertEqual(agent.next_message()["type"], "ready")
        return agent

    def ask(self, agent, code, execute_id, **fields):
        agent.send(dict(execute(code, execute_id=execute_id), **fields))
        return agent.next_message()

    def test_events_of_each_run(self):
        agent = self.start()
        code = ("import os, socket\n"
                "for path in ('/nonexistent-pycell/a', '/nonexistent-pycell/a', 'inside.txt'):\n"
                "    try:\n"
                "        open(path, 'w').close()\n"
                "    except OSError:\n"
                "        pass\n"
                "s = socket.socket()\n"
                "s.bind(('127.0.0.1', 0))\n"
                "s.close()\n"
                "os.system('true')\n")
        result = self.ask(agent, code, 1, returnFiles={"patterns": None, "maxFiles": 5, "maxBytes": 100,
                                                       "maxFileBytes": 100, "maxDepth": 2, "maxEntries": 100,
                                                       "timeMs": 1000})
        self.assertEqual(result["audit"], {"events": [
            {"event": "open", "detail": "'/nonexistent-pycell/a', 'w'", "count": 2},
            {"event": "socket.bind", "detail": "('127.0.0.1', 0)", "count": 1},
            {"event": "os.system", "detail": "'true'", "count": 1},
        ], "dropped": 0})
        self.assertEqual(result["files"], [{"path": "inside.txt", "size": 0, "content": ""}])
        self.assertEqual(self.ask(agent, "import os\nos.system('true')", 2)["audit"],
                         {"events": [{"event": "os.system", "detail": "'true'", "count": 1}], "dropped": 0})
        self.assertEqual(self.ask(agent, "1 + 1", 3)["audit"], NO_AUDIT)  # per run
        self.assertEqual(agent.finish().returncode, 0)

    def test_benign_imports_are_not_noise(self):
        code = "import json, csv, email.parser, decimal, sqlite3, xml.dom.minidom\nopen('out.txt', 'w').write('x')"
        finished = run_single(self.cwd, execute(code))
        self.assertEqual(finished.messages[-1]["audit"], NO_AUDIT)

    def test_denied_import(self):
        agent = self.start({"deny": ["socket"], "allow": None})
        result = self.ask(agent, "import socket", 1)
        self.assertEqual(result["error"], {"type": "ModuleNotFoundError", "message": BLOCKED % "socket", "traceback": [
            "Traceback (most recent call last):",
            '  File "<cell>", line 1, in <module>',
            "    import socket",
            "ModuleNotFoundError: " + BLOCKED % "socket",
        ]})
        self.assertEqual(result["audit"], {"events": [{"event": "import.denied", "detail": "socket", "count": 1}],
                                           "dropped": 0})
        error = self.ask(agent, "import http.client", 2)["error"]  # it imports socket
        self.assertEqual((error["type"], error["message"]), ("ModuleNotFoundError", BLOCKED % "socket"))
        fallback = "try:\n    import socket\nexcept ImportError as exc:\n    kind = type(exc).__name__\nkind"
        self.assertEqual(self.ask(agent, fallback, 3)["value"], {"text/plain": "'ModuleNotFoundError'"})
        self.assertEqual(self.ask(agent, "import csv\ncsv.__name__", 4)["value"], {"text/plain": "'csv'"})
        self.assertEqual(agent.finish().returncode, 0)

    def test_allow_list(self):
        agent = self.start({"deny": [], "allow": ["csv"]})
        self.assertEqual(self.ask(agent, "import csv\ncsv.__name__", 1)["value"], {"text/plain": "'csv'"})
        error = self.ask(agent, "import wave", 2)["error"]
        self.assertEqual((error["type"], error["message"]), ("ModuleNotFoundError", BLOCKED % "wave"))
        self.assertEqual(self.ask(agent, "import json\njson.dumps(1)", 3)["value"], {"text/plain": "'1'"})
        agent.send({"type": "complete", "id": 4, "code": "import cs", "cursor": 9})
        completion = agent.next_message()
        self.assertIn("csv", completion["matches"])  # the agent's own lazy import is not the user's
        self.assertEqual(agent.finish().returncode, 0)

    def test_nothing_is_imported_lazily(self):
        agent = self.start({"deny": ["wave"], "allow": None})
        self.ask(agent, "import sys\nbefore = set(sys.modules)", 1)
        spec = {"patterns": ["*.txt"], "maxFiles": 5, "maxBytes": 10, "maxFileBytes": 1, "maxDepth": 1,
                "maxEntries": 100, "timeMs": 1000}
        code = ("import os\nos.makedirs('a/b/c')\nopen('x.txt', 'w').write('xx')\nopen(b'bad\\xff.txt', 'w')\n"
                "try:\n    open('/nonexistent-pycell', 'w')\nexcept OSError:\n    pass\nimport wave")
        result = self.ask(agent, code, 2, returnFiles=spec)
        self.assertEqual(result["error"]["type"], "ModuleNotFoundError")
        self.assertEqual(result["files"], [{"path": "a/b", "error": "deeper than maxDepth levels; not searched"},
                                           {"path": "bad\\xff.txt", "error": "name is not valid UTF-8"},
                                           {"path": "x.txt", "error": "2 bytes exceeds the per-file limit of 1"}])
        agent.send({"type": "complete", "id": 3, "code": "import wa", "cursor": 9})
        self.assertEqual(agent.next_message()["type"], "completion")
        self.assertEqual(self.ask(agent, "sorted(set(sys.modules) - before)", 4)["value"], {"text/plain": "[]"})
        self.assertEqual(agent.finish().returncode, 0)

    def test_bad_policy(self):
        agent = AgentProcess("single", self.cwd, args=("--module-policy", '{"deny": "socket"}'))
        finished = agent.finish()
        self.assertEqual((finished.returncode, finished.messages), (70, []))
        self.assertEqual(finished.stderr,
                         b"pycell-agent: --module-policy: deny: expected a list of module names, got 'socket'\n")


if __name__ == "__main__":
    unittest.main()
