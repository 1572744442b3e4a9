"""One cell: compile (three outcomes), run the body, evaluate the last expression, judge the end."""

import ast
import builtins
import io
import linecache
import sys
import types

from . import figures
from .display import Current, make_display, make_publish
from .interrupts import InterruptGate
from .prompts import RunInput
from .serialize import format_error, make_bundle, make_error, safe_str

CELL = "<cell>"  # a cell without a number; numbered cells are "<cell-N>"
NUL_MESSAGE = "source code string cannot contain null bytes"


class NulByte(ValueError):
    def __init__(self, lineno):
        super().__init__(NUL_MESSAGE)
        self.lineno = lineno


class Compiled:
    """`body` runs in exec mode; `last`, if any, is the final expression in eval mode."""

    __slots__ = ("body", "last")

    def __init__(self, body, last):
        self.body, self.last = body, last


class Outcome:
    __slots__ = ("status", "value", "error", "exit_code", "exit_message")

    def __init__(self, status, value=None, error=None, exit_code=0, exit_message=None):
        self.status, self.value, self.error = status, value, error
        self.exit_code, self.exit_message = exit_code, exit_message

    @classmethod
    def failed(cls, error, exit_code=1, exit_message=None):
        return cls("error", error=error, exit_code=exit_code, exit_message=exit_message)


def register_source(source, filename=CELL):
    # mtime None: linecache.checkcache leaves the entry alone, so tracebacks find the lines.
    lines = io.StringIO(source, newline=None).readlines()
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)


def cell_filename(cell):
    return CELL if cell is None else "<cell-%d>" % cell


def compile_cell(source, filename=CELL):
    """Compiled, or raises: NulByte, SyntaxError, or whatever else compile() raises.

    Earlier cells' sources stay in linecache: a function defined in cell 1 and failing when
    called from cell 3 shows cell 1's line in the traceback.
    """
    nul = source.find("\0")
    if nul >= 0:
        raise NulByte(source.count("\n", 0, nul) + 1)
    register_source(source, filename)
    tree = compile(source, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expression = ast.Expression(body=tree.body.pop().value)
        last = compile(expression, filename, "eval", dont_inherit=True)
    return Compiled(compile(tree, filename, "exec", dont_inherit=True), last)


def run_cell(compiled, namespace):
    exec(compiled.body, namespace)
    return None if compiled.last is None else eval(compiled.last, namespace)


def exit_status(exc):
    """(exit code, stderr text or None) CPython would give for an uncaught `exc`."""
    if not isinstance(exc, SystemExit):
        return 1, None
    if exc.code is None:
        return 0, None
    if isinstance(exc.code, int):
        return exc.code & 0xFF, None
    return 1, safe_str(exc.code)


def nul_error(lineno, limit, filename=CELL):
    lines = ['  File "%s", line %d' % (filename, lineno), "ValueError: " + NUL_MESSAGE]
    return make_error("ValueError", NUL_MESSAGE, lines, limit)


class Session:
    """A `__main__` namespace that lives across executes (one execute in single mode).

    `ask` answers interactive input() (inbox.make_ask); without it input() reads sys.stdin.
    """

    def __init__(self, send, ask=None):
        self.gate = InterruptGate()
        self._send = send
        self.ask = ask
        self.current = Current()
        self.publish = make_publish(self.send, self.current)
        self.module = types.ModuleType("__main__")
        self.module.__builtins__ = builtins
        self.module.display = make_display(self.send, self.current)

    def send(self, message):
        """For messages sent while user code runs: a SIGINT must not tear them."""
        with self.gate.shielded():
            self._send(message)

    @property
    def namespace(self):
        return self.module.__dict__

    def register_as_main(self):
        # So pickle, dataclasses and `import __main__` see the user's namespace, not the agent.
        sys.modules["__main__"] = self.module
        figures.on_show = self.show_figures  # plt.show() from user code

    def execute(self, execute_id, code, limit, cell=None, stdin=None, interactive=False):
        """One run. `stdin` None leaves sys.stdin alone; see prompts.RunInput."""
        self.current.execute_id, self.current.repr_limit = execute_id, limit
        filename = cell_filename(cell)
        try:
            compiled = compile_cell(code, filename)
        except NulByte as exc:
            return Outcome.failed(nul_error(exc.lineno, limit, filename))
        except Exception as exc:  # SyntaxError, but also RecursionError/MemoryError from the compiler
            return Outcome.failed(format_error(exc, limit))
        try:
            with self.gate:
                with RunInput(self.ask, execute_id, limit, stdin, interactive):
                    outcome = self._run(compiled, limit)
                self.show_figures()  # as notebooks do: figures left open are shown with the cell
                return outcome
        except KeyboardInterrupt:  # a second interrupt while the first was being reported
            return Outcome.failed(make_error("KeyboardInterrupt", "", ["KeyboardInterrupt"], limit))

    def show_figures(self):
        figures.send_open_figures(self.publish, self.current.repr_limit)

    def complete(self, code, cursor):
        """(matches, cursor_start, cursor_end); interruptible, like user code, since getters run."""
        try:
            with self.gate:
                from . import completion  # first completion only: start-up and idle memory of every agent
                return completion.complete(code, cursor, self.namespace)
        except KeyboardInterrupt:
            return [], cursor, cursor

    def _run(self, compiled, limit):
        try:
            value = run_cell(compiled, self.namespace)
            return Outcome("ok", value=None if value is None else make_bundle(value, limit))
        except BaseException as exc:  # everything user code raises is reported, SystemExit included
            code, message = exit_status(exc)
            if code == 0:
                return Outcome("ok")
            return Outcome.failed(format_error(exc, limit), code, message)
