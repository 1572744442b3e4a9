"""The agent's main loop: ready, then execute → result (and, in a session, complete → completion).

No exception escapes serve().
"""

import linecache
import os
import sys

from . import audit, figures, files, limits, messages, output, wire
from .inbox import Inbox, make_ask
from .serialize import format_error, make_error, type_name
from .session import Outcome, Session, register_source

EXIT_AGENT_ERROR = 70  # EX_SOFTWARE: the agent, not the user's code, failed
MODES = ("single", "session", "process")


def python_version():
    return "%d.%d.%d" % sys.version_info[:3]


def agent_failure(text, limit=messages.DEFAULT_REPR_LIMIT):
    return Outcome.failed(make_error("AgentError", text, ["AgentError: " + text], limit),
                          EXIT_AGENT_ERROR)


def describe_bug(exc):
    # The innermost frame says where in the agent it broke; the message is for a maintainer.
    tb, where = exc.__traceback__, ""
    while tb is not None:
        where = " (%s:%d)" % (os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno)
        tb = tb.tb_next
    return "internal error: %s: %s%s" % (type_name(exc), exc, where)


def broken_channel(exc):
    """A bad message during an input() wait: the channel cannot be trusted, so the agent ends."""
    output.flush()
    os._exit(fatal("protocol error: %s" % exc))


class Agent:
    """execute message → (result message, Outcome). rlimits must be in force before any code runs.

    `inbox` (fd 3) lets interactive runs wait for input replies; `session_stdin` makes each run's
    sys.stdin the execute's `stdin` text (session mode: fd 0 is at EOF). `auditor` is serve()'s
    installed audit.Auditor; without one, every result's audit is empty.
    """

    def __init__(self, send, root=".", apply_rlimits=limits.apply_rlimits, inbox=None, session_stdin=False,
                 on_broken=broken_channel, auditor=None):
        self.session = Session(send)
        if inbox is not None:
            self.session.ask = make_ask(inbox, self.session.send, self.session.gate, on_broken)
        self.root = root
        self.apply_rlimits = apply_rlimits
        self.session_stdin = session_stdin
        self.limited = False  # a session applies rlimits once: lowered hard limits cannot be raised
        self.auditor = audit.Auditor(root=root) if auditor is None else auditor

    def handle(self, message):
        self.auditor.clear()
        try:
            request = messages.parse_execute(message)
        except messages.BadRequest as exc:
            if exc.request_id is None:
                raise wire.ProtocolError(str(exc)) from None
            failure = agent_failure(str(exc))
            return messages.result(exc.request_id, failure, audit=self.auditor.report()), failure
        returned = None if request.return_files is None else []
        try:
            outcome, returned = self._execute(request, returned)
        except BaseException as exc:  # an agent bug still answers this request
            outcome = agent_failure(describe_bug(exc), request.repr_limit)
        finally:
            self.auditor.end()
        return messages.result(request.id, outcome, returned, self.auditor.report()), outcome

    def _execute(self, request, returned):
        """(Outcome, the result's `files` or None)."""
        try:
            files.write_files(request.files, self.root)
            if not self.limited:
                self.apply_rlimits(request.rlimits)
                self.limited = True
        except (ValueError, OSError) as exc:  # FileRefused, a bad rlimit, setrlimit refusing
            return agent_failure(str(exc), request.repr_limit), returned
        stdin = (request.stdin or "") if self.session_stdin else None
        # After the input files: those the run leaves alone are not returned.
        if request.return_files is not None:
            from . import files_out  # only for returnFiles: start-up and idle memory of every agent
        snap = None if request.return_files is None else files_out.snapshot(self.root, request.return_files)
        try:
            self.auditor.begin()
            try:
                outcome = self.session.execute(request.id, request.code, request.repr_limit, cell=request.cell,
                                               stdin=stdin, interactive=request.interactive)
            finally:
                self.auditor.end()  # the agent's own work after the run is not the run's
            if snap is not None:
                output.flush()  # C stdio buffers too: a file fopen()ed by an extension gets its last bytes
                returned = files_out.collect(snap)
        finally:
            if snap is not None:
                snap.close()
        return outcome, returned

    def complete(self, message):
        """complete message → completion message; a bad one gets no matches at offset 0."""
        try:
            request = messages.parse_complete(message)
        except messages.BadRequest as exc:
            if exc.request_id is None:
                raise wire.ProtocolError(str(exc)) from None
            return messages.completion(exc.request_id, [], 0, 0)
        try:
            self.auditor.begin(recording=False)  # getters are user code: the module policy applies
            matches, start, end = self.session.complete(request.code, request.cursor)
        except BaseException:  # an agent bug still answers, with nothing to offer
            matches, start, end = [], request.cursor, request.cursor
        finally:
            self.auditor.end()
        output.flush()  # what user getters printed comes before the answer
        return messages.completion(request.id, matches, start, end)


def finish(outcome, exiting):
    """User output first: it must be written before the result says the run is over."""
    if exiting and outcome.exit_message is not None:
        output.write_exit_message(outcome.exit_message)
    output.flush()


def serve_single(inbox, writer, agent):
    message = inbox.next()
    if message is None:
        return 0  # the broker retired an idle worker
    result, outcome = agent.handle(message)
    finish(outcome, exiting=True)
    writer.send(result)
    os.close(wire.CONTROL_OUT)
    wait_for_release()
    return outcome.exit_code


def wait_for_release():
    """Stay alive until the broker closes fd 3: it measures the run's CPU and peak memory first."""
    try:
        while os.read(wire.CONTROL_IN, 65536):
            pass  # the broker sends nothing after execute; anything else is ignored
    except OSError:
        pass  # user code closed or broke fd 3: only this run's usage figures suffer


def serve_session(inbox, writer, agent):
    while True:
        message = inbox.next()
        if message is None:
            output.flush()
            return 0
        kind = message.get("type")
        if kind == "input_reply":
            continue  # its run has ended (answered late, or interrupted): nobody is waiting
        if kind == "complete":
            writer.send(agent.complete(message))
            continue
        result, outcome = agent.handle(message)
        finish(outcome, exiting=False)
        writer.send(result)


def fatal(text):
    try:
        os.write(2, ("pycell-agent: %s\n" % text).encode("utf-8", "backslashreplace"))
    except OSError:
        pass
    return EXIT_AGENT_ERROR


def warm_up():
    """Imports happened when this module loaded; first calls of compile and traceback are slow."""
    compile("1", "<warm>", "exec")
    register_source("1 / 0\n", "<warm>")
    try:
        exec(compile("1 / 0\n", "<warm>", "exec"), {})
    except ZeroDivisionError as exc:
        format_error(exc, 100)  # some versions import more on a first traceback (3.13: tokenize)
    linecache.cache.pop("<warm>", None)


def preload():
    """What the agent imports only when first needed, imported now: a module policy never trips the agent."""
    # completion.modules imports pkgutil (lazily: start-up time), whose iter_modules imports inspect.
    import inspect  # noqa: F401
    import pkgutil  # noqa: F401

    from . import completion, files_out  # noqa: F401  (imported at first use otherwise)


def install_auditor(policy):
    """After every import the agent makes, so that `preloaded` holds them all."""
    if policy is not None:
        preload()
    auditor = audit.Auditor(policy)
    auditor.install()
    return auditor


def run_agent(auditor):
    """make_agent for process mode: each run's process gets a fresh namespace, as a single-mode agent has."""
    def make(send, inbox):
        agent = Agent(send, inbox=inbox, session_stdin=True, auditor=auditor)
        agent.session.gate.install()
        agent.session.register_as_main()
        return agent
    return make


def serve(mode, policy=None):
    """Run the agent on fds 3/4 (and, in process mode, the fork server on fds 6/7); the process exit code."""
    forkserver = None
    try:
        if mode == "process":
            from . import forkserver  # only here: a single-use agent's start-up is on every run's bill
        control = (wire.CONTROL_IN, wire.CONTROL_OUT) + ((forkserver.SERVER_IN, forkserver.SERVER_OUT) if forkserver else ())
        for fd in control:
            os.set_inheritable(fd, False)  # subprocesses of user code must not hold the channel
        # Set, not imported: matplotlib picks our backend up only if user code imports it.
        os.environ["MPLBACKEND"] = figures.BACKEND
        # ...for this process only: a subprocess could not import pycell_agent, so it gets matplotlib's default.
        os.unsetenv("MPLBACKEND")
        inbox, writer = Inbox(wire.fd_reader(wire.CONTROL_IN)), wire.fd_writer(wire.CONTROL_OUT)
        agent = Agent(writer.send, inbox=inbox, session_stdin=mode != "single")
        agent.session.gate.install()
        agent.session.register_as_main()
        warm_up()
        agent.auditor = install_auditor(policy)
        sys.argv = [""]  # as in an interactive interpreter: the agent's argv is not the user's
        server = forkserver.ForkServer(run_agent(agent.auditor), finish) if forkserver else None
        writer.send(messages.ready(os.getpid(), python_version()))
        if server is not None:
            return server.serve()
        return (serve_single if mode == "single" else serve_session)(inbox, writer, agent)
    except wire.ProtocolError as exc:
        return fatal("protocol error: %s" % exc)
    except BaseException as exc:  # broken control pipe, or a bug outside any request
        if forkserver and isinstance(exc, forkserver.NotSandboxed):
            return fatal("process mode needs the sandbox: %s" % exc)
        return fatal(describe_bug(exc))


def parse_mode(argv):
    if len(argv) == 2 and argv[0] == "--mode" and argv[1] in MODES:
        return argv[1]
    if len(argv) == 1 and argv[0].startswith("--mode=") and argv[0][7:] in MODES:
        return argv[0][7:]
    return None


def parse_args(argv):
    """(mode, --module-policy's JSON text or None), or None for a bad command line."""
    rest, policy = [], None
    args = iter(argv)
    for arg in args:
        if arg == "--module-policy" and policy is None:
            policy = next(args, None)
            if policy is None:
                return None
        elif arg.startswith("--module-policy=") and policy is None:
            policy = arg[len("--module-policy="):]
        else:
            rest.append(arg)
    mode = parse_mode(rest)
    return None if mode is None else (mode, policy)


def main(argv):
    parsed = parse_args(argv)
    if parsed is None:
        os._exit(fatal("usage: main.py --mode single|session|process [--module-policy JSON]"))
    mode, policy_text = parsed
    try:
        policy = None if policy_text is None else audit.parse_policy(policy_text)
    except ValueError as exc:
        os._exit(fatal("--module-policy: %s" % exc))
    os._exit(serve(mode, policy))
