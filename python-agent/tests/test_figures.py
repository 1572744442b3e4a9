"""matplotlib figures as display messages: in-process with stand-ins, and for real where installed."""

import base64
import contextlib
import io
import subprocess
import sys
import tempfile
import types
import unittest

from pycell_agent.session import Session
from tests.agentproc import AgentProcess, execute

MPL_CANDIDATES = ("/usr/bin/python3", sys.executable)  # the sandbox runs the system python


def python_with_matplotlib():
    for exe in MPL_CANDIDATES:
        try:
            if subprocess.run([exe, "-I", "-c", "import matplotlib"], capture_output=True, timeout=60).returncode == 0:
                return exe
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def restore(name, module):
    if module is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = module


class FakeFigure:
    def __init__(self, name, png=b"\x89PNG fake"):
        self.name, self.png = name, png
        self.canvas = types.SimpleNamespace(figure=self)

    def __repr__(self):
        return "<Figure %s>" % self.name

    def savefig(self, stream, format):
        if self.png is None:
            raise ValueError("cannot draw\nthis")
        stream.write(self.png)


class StandInTest(unittest.TestCase):
    """pyplot and Gcf stand-ins: the flush logic without matplotlib."""

    def install(self, figures):
        self.open = list(figures)
        pyplot = types.ModuleType("matplotlib.pyplot")
        pyplot.close = self.open.remove
        helpers = types.ModuleType("matplotlib._pylab_helpers")
        managers = lambda: [types.SimpleNamespace(canvas=figure.canvas) for figure in self.open]  # noqa: E731
        helpers.Gcf = types.SimpleNamespace(get_all_fig_managers=managers)
        for module in (pyplot, helpers):
            self.addCleanup(restore, module.__name__, sys.modules.get(module.__name__))
            sys.modules[module.__name__] = module

    def test_open_figures_are_sent_and_closed_at_the_end_of_a_run(self):
        sent, stderr = [], io.StringIO()
        self.install([FakeFigure("one"), FakeFigure("bad", png=None), FakeFigure("three", png=b"3")])
        with contextlib.redirect_stderr(stderr):
            outcome = Session(sent.append).execute(4, "1", 100)
        self.assertEqual(outcome.value, {"text/plain": "1"})
        self.assertEqual(sent, [
            {"type": "display", "id": 4, "data": {"text/plain": "<Figure one>", "image/png": "iVBORyBmYWtl"}},
            {"type": "display", "id": 4, "data": {"text/plain": "<Figure three>", "image/png": "Mw=="}},
        ])
        self.assertEqual(stderr.getvalue(), "pycell: cannot show figure 2: ValueError: cannot draw this\n")
        self.assertEqual(self.open, [])

    def test_nothing_without_pyplot(self):
        sent = []
        self.assertNotIn("matplotlib.pyplot", sys.modules)
        Session(sent.append).execute(1, "display(1)", 100)
        self.assertEqual(len(sent), 1)


class MatplotlibTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.python = python_with_matplotlib()
        if cls.python is None:
            raise unittest.SkipTest("matplotlib is not installed for %s" % " or ".join(MPL_CANDIDATES))

    def start(self, mode):
        cwd = tempfile.TemporaryDirectory()
        self.addCleanup(cwd.cleanup)
        agent = AgentProcess(mode, cwd.name, python=self.python)
        self.assertEqual(agent.next_message(timeout=60)["type"], "ready")
        return agent

    def assertFigure(self, message, execute_id, text):
        self.assertEqual((message["type"], message["id"], message["data"]["text/plain"]), ("display", execute_id, text))
        self.assertEqual(sorted(message["data"]), ["image/png", "text/plain"])
        self.assertEqual(base64.b64decode(message["data"]["image/png"])[:8], b"\x89PNG\r\n\x1a\n")

    def test_show_and_end_of_run(self):
        agent = self.start("session")
        code = ("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('shown next')\nplt.show()\n"
                "fig = plt.figure()\nfig.add_subplot(1, 2, 1)\nfig.add_subplot(1, 2, 2)\n'done'")
        agent.send(execute(code, execute_id=1))
        self.assertFigure(agent.next_message(timeout=60), 1, "<Figure size 640x480 with 1 Axes>")
        self.assertFigure(agent.next_message(timeout=60), 1, "<Figure size 640x480 with 2 Axes>")
        self.assertEqual(agent.next_message(timeout=60)["value"], {"text/plain": "'done'"})
        agent.send(execute("plt.get_fignums(), plt.get_backend()", execute_id=2))
        self.assertEqual(agent.next_message(timeout=60)["value"],
                         {"text/plain": "([], 'module://pycell_agent.mplbackend')"})
        agent.send(execute("plt.figure().text(0, 0, r'$\\notacommand$')\n1 / 0", execute_id=3))
        self.assertEqual(agent.next_message(timeout=60)["error"]["type"], "ZeroDivisionError")  # no figure: it failed
        agent.send(execute("plt.get_fignums()", execute_id=4))
        self.assertEqual(agent.next_message(timeout=60)["value"], {"text/plain": "[]"})
        finished = agent.finish(timeout=60)
        self.assertEqual(finished.stdout, b"shown next\n")
        self.assertRegex(finished.stderr.decode(), r"\Apycell: cannot show figure 1: ValueError: [^\n]*\n\Z")

    def test_single_mode(self):
        agent = self.start("single")
        agent.send(execute("import matplotlib.pyplot as plt\nplt.bar([1], [2])", execute_id=7))
        finished = agent.finish(timeout=60)
        self.assertFigure(finished.messages[0], 7, "<Figure size 640x480 with 1 Axes>")
        self.assertEqual([m["type"] for m in finished.messages], ["display", "result"])
        self.assertEqual(finished.returncode, 0)


if __name__ == "__main__":
    unittest.main()
