"""Numbered cells, a run's stdin and interactive input, and completion, on an in-process Session."""

import builtins
import contextlib
import io
import unittest

from pycell_agent.prompts import ORIGINAL_INPUT
from pycell_agent.session import Session


def without_carets(lines):
    return [line for line in lines if line.strip(" ~^")]  # caret lines vary by version


class CellTest(unittest.TestCase):
    def test_traceback_through_an_earlier_cell(self):
        session = Session([].append)
        session.execute(1, "def ratio(a, b):\n    return a / b\n", 100, cell=1)
        session.execute(2, "x = 0", 100, cell=2)
        error = session.execute(3, "y = 1\nratio(y, x)", 100, cell=3).error
        self.assertEqual(without_carets(error["traceback"]), [
            "Traceback (most recent call last):",
            '  File "<cell-3>", line 2, in <module>',
            "    ratio(y, x)",
            '  File "<cell-1>", line 2, in ratio',
            "    return a / b",
            "ZeroDivisionError: division by zero",
        ])

    def test_without_a_cell_number(self):
        error = Session([].append).execute(1, "1 / 0", 100).error
        self.assertEqual(error["traceback"][1], '  File "<cell>", line 1, in <module>')

    def test_syntax_error_in_a_numbered_cell(self):
        error = Session([].append).execute(1, "x = 1\nif x\n    pass", 100, cell=12).error
        self.assertEqual((error["type"], error["message"]), ("SyntaxError", "expected ':'"))
        self.assertEqual(error["traceback"], [
            '  File "<cell-12>", line 2',
            "    if x",
            "        ^",
            "SyntaxError: expected ':'",
        ])

    def test_nul_byte_in_a_numbered_cell(self):
        error = Session([].append).execute(1, "x = 1\n'\0'", 100, cell=4).error
        self.assertEqual(error["traceback"][0], '  File "<cell-4>", line 2')

    def test_a_cell_number_can_be_reused(self):
        session = Session([].append)
        session.execute(1, "def f():\n    raise KeyError(1)", 100, cell=1)
        session.execute(2, "def f():\n    pass\n\n\ndef g():\n    raise KeyError(2)", 100, cell=1)
        lines = session.execute(3, "g()", 100, cell=2).error["traceback"]
        self.assertEqual(lines[3:5], ['  File "<cell-1>", line 6, in g', "    raise KeyError(2)"])


class RunInputTest(unittest.TestCase):
    def test_stdin_is_fresh_per_run(self):
        session = Session([].append)
        code = "import sys\nsys.stdin.read()"
        self.assertEqual(session.execute(1, code, 100, stdin="one\n").value, {"text/plain": "'one\\n'"})
        self.assertEqual(session.execute(2, code, 100, stdin="").value, {"text/plain": "''"})
        self.assertEqual(session.execute(3, "sys.stdin.buffer.read()", 100, stdin="é").value,
                         {"text/plain": "b'\\xc3\\xa9'"})

    def test_non_interactive_input_reads_stdin_then_eof(self):
        session, stdout = Session([].append), io.StringIO()
        with contextlib.redirect_stdout(stdout):
            outcome = session.execute(1, "a = input('first? ')\nb = input('second? ')", 100, stdin="a\n")
        self.assertEqual((outcome.error["type"], outcome.error["message"]), ("EOFError", "EOF when reading a line"))
        self.assertEqual((session.namespace["a"], stdout.getvalue()), ("a", "first? second? "))  # prompts on stdout

    def test_interactive_input_asks(self):
        asked = []

        def ask(execute_id, seq, prompt, password):
            asked.append((execute_id, seq, prompt, password))
            return "answer %d\n" % seq

        session = Session([].append, ask=ask)
        code = "import getpass\n(input('first? '), getpass.getpass('pin: '), input())"
        outcome = session.execute(5, code, 100, stdin="not read\n", interactive=True)
        self.assertEqual(outcome.value, {"text/plain": "('answer 1', 'answer 2\\n', 'answer 3')"})
        self.assertEqual(asked, [(5, 1, "first? ", False), (5, 2, "pin: ", True), (5, 3, "", False)])
        self.assertIs(builtins.input, ORIGINAL_INPUT)
        outcome = session.execute(6, "input()", 100, stdin="", interactive=False)
        self.assertEqual(outcome.error["type"], "EOFError")
        session.execute(7, "input()", 100, interactive=True)
        self.assertEqual(asked[-1], (7, 1, "", False))  # seq restarts with each run


class CompleteTest(unittest.TestCase):
    def test_session_names(self):
        session = Session([].append)
        session.execute(1, "import os\nvalue_one = 1\nvalue_two = 2", 100)
        self.assertEqual(session.complete("x = value_", 10), (["value_one", "value_two"], 4, 10))
        self.assertEqual(session.complete("os.sep", 6), (["sep"], 3, 6))

    def test_interrupted_completion_offers_nothing(self):
        session = Session([].append)
        session.execute(1, "class Slow:\n    def __dir__(self):\n        raise KeyboardInterrupt\nslow = Slow()", 100)
        self.assertEqual(session.complete("slow.x", 6), ([], 6, 6))
        self.assertEqual(session.complete("slo", 3), (["slow"], 0, 3))


if __name__ == "__main__":
    unittest.main()
