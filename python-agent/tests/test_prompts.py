"""A run's input in-process: sys.stdin from text, input()/getpass() through ask, originals restored."""

import builtins
import getpass
import sys
import unittest

from pycell_agent.prompts import ORIGINAL_GETPASS, ORIGINAL_INPUT, RunInput, make_stdin


class Asker:
    """Answers in order and records what was asked."""

    def __init__(self, *answers):
        self.answers, self.asked = list(answers), []

    def __call__(self, execute_id, seq, prompt, password):
        self.asked.append((execute_id, seq, prompt, password))
        return self.answers.pop(0)


class StdinTest(unittest.TestCase):
    def test_text_and_bytes(self):
        self.assertEqual(make_stdin("é\nrest").readlines(), ["é\n", "rest"])
        stdin = make_stdin("é\r\n")
        self.assertEqual(stdin.buffer.read(), b"\xc3\xa9\r\n")
        self.assertEqual(make_stdin("a\r\nb").readline(), "a\r\n")  # untranslated, as on POSIX

    def test_lone_surrogate_is_replaced(self):
        self.assertEqual(make_stdin("a\ud800b").read(), "a?b")

    def test_run_swaps_and_restores(self):
        before = sys.stdin
        with RunInput(None, 1, 100, stdin="a\n"):
            self.assertEqual((input(), sys.stdin.read()), ("a", ""))
            self.assertRaisesRegex(EOFError, "^EOF when reading a line$", input)
        self.assertIs(sys.stdin, before)

    def test_no_stdin_leaves_sys_stdin(self):
        before = sys.stdin
        with RunInput(None, 1, 100, stdin=None):
            self.assertIs(sys.stdin, before)


class InteractiveTest(unittest.TestCase):
    def test_input_and_getpass_ask(self):
        ask = Asker("Ada\n", "two\n\n", "secret\n", "")
        with RunInput(ask, 7, 100, stdin="unused\n", interactive=True):
            got = (input("Name? "), builtins.input(), getpass.getpass(), input(42))
        self.assertEqual(got, ("Ada", "two\n", "secret\n", ""))  # input strips one "\n"; getpass nothing
        self.assertEqual(ask.asked, [(7, 1, "Name? ", False), (7, 2, "", False), (7, 3, "Password: ", True),
                                     (7, 4, "42", False)])

    def test_null_is_end_of_input(self):
        ask = Asker(None, None)
        with RunInput(ask, 1, 100, interactive=True):
            self.assertRaisesRegex(EOFError, "^EOF when reading a line$", input)
            self.assertRaises(EOFError, getpass.getpass, "PIN: ")
        self.assertEqual(ask.asked, [(1, 1, "", False), (1, 2, "PIN: ", True)])

    def test_prompt_is_cut_to_the_repr_limit(self):
        ask = Asker("x")
        with RunInput(ask, 1, 5, interactive=True):
            input("0123456789")
        self.assertEqual(ask.asked[0][2], "01234…[truncated 5 chars]")

    def test_originals_are_restored_whatever_user_code_did(self):
        with RunInput(Asker(), 1, 100, interactive=True):
            self.assertIsNot(builtins.input, ORIGINAL_INPUT)
            kept = builtins.input
            builtins.input = lambda prompt="": "user's own"
        self.assertEqual((builtins.input, getpass.getpass), (ORIGINAL_INPUT, ORIGINAL_GETPASS))
        with RunInput(None, 2, 100, stdin="from stdin\n"):
            self.assertEqual(kept(), "from stdin")  # a hook kept past its run reads stdin like input()

    def test_not_interactive_leaves_input_alone(self):
        with RunInput(Asker(), 1, 100, stdin="", interactive=False):
            self.assertIs(builtins.input, ORIGINAL_INPUT)
        with RunInput(None, 1, 100, stdin="", interactive=True):  # nobody to ask: stdin it is
            self.assertIs(builtins.input, ORIGINAL_INPUT)


if __name__ == "__main__":
    unittest.main()
