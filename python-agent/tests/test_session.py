import os
import signal
import unittest

from pycell_agent.session import Session, compile_cell, exit_status

AGENT_MARKERS = ("pycell_agent", "session.py", "serialize.py", "main.py")


def new_session():
    sent = []
    return Session(sent.append), sent


def run(code, limit=1000):
    session, _ = new_session()
    return session.execute(1, code, limit)


class CompileTest(unittest.TestCase):
    def test_three_outcomes(self):
        rows = [
            ("x = 1\nx + 1", True, True),
            ("x = 1", True, False),
            ("x + 1", True, True),
            ("if True:\n    5", True, False),
            ("", True, False),
            ("1 +", False, None),
        ]
        for code, compiles, has_last in rows:
            with self.subTest(code=code):
                if not compiles:
                    self.assertRaises(SyntaxError, compile_cell, code)
                    continue
                self.assertEqual(compile_cell(code).last is not None, has_last)


class ValueTest(unittest.TestCase):
    def test_last_expression(self):
        rows = [
            ("1 + 1", {"text/plain": "2"}),
            ("a = 2\nb = 3\na * b", {"text/plain": "6"}),
            ("x = 5", None),
            ("None", None),
            ("def f():\n    return None\nf()", None),
            ("[i * i for i in range(4)]", {"text/plain": "[0, 1, 4, 9]"}),
            ("import math\nmath.pi > 3", {"text/plain": "True"}),
            ("class A:\n    def __repr__(self):\n        raise TypeError('nope')\nA()",
             {"text/plain": "<repr failed: TypeError: nope>"}),
        ]
        for code, value in rows:
            with self.subTest(code=code):
                outcome = run(code)
                self.assertEqual((outcome.status, outcome.value, outcome.exit_code), ("ok", value, 0))

    def test_value_is_truncated_to_the_repr_limit(self):
        self.assertEqual(run("'x' * 10", limit=7).value, {"text/plain": "'xxxxxx…[truncated 5 chars]"})

    def test_namespace_is_a_clean_main(self):
        session, _ = new_session()
        self.assertEqual(session.execute(1, "__name__", 100).value, {"text/plain": "'__main__'"})
        keys = session.execute(2, "sorted(globals())", 1000).value["text/plain"]
        self.assertEqual(keys, "['__builtins__', '__doc__', '__loader__', '__name__', '__package__', "
                               "'__spec__', 'display']")

    def test_namespace_persists_across_executes(self):
        session, _ = new_session()
        session.execute(1, "counter = 41\ndef bump():\n    global counter\n    counter += 1", 100)
        self.assertEqual(session.execute(2, "bump()\ncounter", 100).value, {"text/plain": "42"})

    def test_display_sends_for_the_current_execute(self):
        session, sent = new_session()
        outcome = session.execute(9, "display(1, 'a')\n3", 100)
        self.assertEqual(outcome.value, {"text/plain": "3"})
        self.assertEqual(sent, [
            {"type": "display", "id": 9, "data": {"text/plain": "1"}},
            {"type": "display", "id": 9, "data": {"text/plain": "'a'"}},
        ])


class ErrorTest(unittest.TestCase):
    def test_syntax_error_has_its_position(self):
        outcome = run("x = 1\n1 +")
        self.assertEqual((outcome.status, outcome.exit_code), ("error", 1))
        self.assertEqual(outcome.error["type"], "SyntaxError")
        self.assertEqual(outcome.error["message"], "invalid syntax")
        lines = outcome.error["traceback"]
        self.assertEqual(lines[:2], ['  File "<cell>", line 2', "    1 +"])
        self.assertEqual(lines[2].strip(), "^")
        self.assertEqual(lines[3:], ["SyntaxError: invalid syntax"])

    def test_nul_byte(self):
        outcome = run("x = 1\ny = '\0'")
        self.assertEqual(outcome.error, {
            "type": "ValueError",
            "message": "source code string cannot contain null bytes",
            "traceback": ['  File "<cell>", line 2', "ValueError: source code string cannot contain null bytes"],
        })

    def test_traceback_starts_at_the_cell_and_shows_user_source(self):
        outcome = run("def ratio(a, b):\n    return a / b\n\nratio(1, 0)\n")
        lines = outcome.error["traceback"]
        without_carets = [line for line in lines if line.strip(" ~^")]  # carets vary by version
        self.assertEqual(without_carets[:5], [
            "Traceback (most recent call last):",
            '  File "<cell>", line 4, in <module>',
            "    ratio(1, 0)",
            '  File "<cell>", line 2, in ratio',
            "    return a / b",
        ])
        self.assertEqual(lines[-1], "ZeroDivisionError: division by zero")
        self.assertEqual((outcome.error["type"], outcome.error["message"]), ("ZeroDivisionError", "division by zero"))
        self.assertFalse([line for line in lines if any(marker in line for marker in AGENT_MARKERS)])

    def test_error_in_the_last_expression(self):
        lines = run("x = 0\n1 / x").error["traceback"]
        self.assertEqual(lines[1:3], ['  File "<cell>", line 2, in <module>', "    1 / x"])

    def test_error_from_a_repr_method_inside_display(self):
        code = "class A:\n    def __repr__(self):\n        return 'A'\n    def _repr_html_(self):\n        return 1/0\ndisplay(A())\nundefined"
        outcome = run(code)
        self.assertEqual(outcome.error["type"], "NameError")
        self.assertEqual(outcome.error["traceback"][1], '  File "<cell>", line 7, in <module>')

    def test_user_exception_types(self):
        outcome = run("class Oops(Exception):\n    pass\nraise Oops('x')")
        self.assertEqual((outcome.error["type"], outcome.error["message"]), ("Oops", "x"))

    def test_system_exit(self):
        rows = [
            ("import sys; sys.exit(0)", "ok", 0, None),
            ("import sys; sys.exit()", "ok", 0, None),
            ("import sys; sys.exit(None)", "ok", 0, None),
            ("import sys; sys.exit(3)", "error", 3, None),
            ("import sys; sys.exit('msg')", "error", 1, "msg"),
            ("raise SystemExit(-1)", "error", 255, None),
        ]
        for code, status, exit_code, message in rows:
            with self.subTest(code=code):
                outcome = run(code)
                self.assertEqual((outcome.status, outcome.exit_code, outcome.exit_message),
                                 (status, exit_code, message))
                if status == "error":
                    self.assertEqual(outcome.error["type"], "SystemExit")
                    self.assertEqual(outcome.error["traceback"][1], '  File "<cell>", line 1, in <module>')

    def test_exit_status_rows(self):
        rows = [
            (ValueError("x"), (1, None)),
            (KeyboardInterrupt(), (1, None)),
            (SystemExit(), (0, None)),
            (SystemExit(True), (1, None)),
            (SystemExit(256), (0, None)),
            (SystemExit(["a"]), (1, "['a']")),
        ]
        for exc, expected in rows:
            with self.subTest(exc=repr(exc)):
                self.assertEqual(exit_status(exc), expected)

    def test_keyboard_interrupt_raised_by_code(self):
        outcome = run("raise KeyboardInterrupt")
        self.assertEqual((outcome.status, outcome.exit_code, outcome.error["type"]), ("error", 1, "KeyboardInterrupt"))


class InterruptTest(unittest.TestCase):
    def setUp(self):
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))

    def test_sigint_interrupts_user_code_only(self):
        session, _ = new_session()
        outcome = session.execute(1, "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)", 100)
        self.assertEqual((outcome.error["type"], outcome.error["traceback"][-1]), ("KeyboardInterrupt", "KeyboardInterrupt"))
        os.kill(os.getpid(), signal.SIGINT)  # gate closed: dropped, nothing raised
        self.assertEqual(session.execute(2, "1", 100).value, {"text/plain": "1"})


if __name__ == "__main__":
    unittest.main()
