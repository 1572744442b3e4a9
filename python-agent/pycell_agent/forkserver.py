"""Process mode: one pre-imported agent in a reused sandbox forks a fresh process for each run.

What a run can and cannot do to the runs after it (protocol/agent.md, "Process mode"):
- The run's process never holds the control channel. This server reports `ended` and `cleaned` on
  fd 7 (fd 6 only tells it, by EOF, that the broker is gone); the run's process closes both before
  anything else and then works as a single-mode agent on fds 3/4 (the run channel), where it can only
  speak for its own run.
- The next run's process is forked as soon as the sandbox is clean, before its execute arrives: the
  fork and the child's set-up stay off the request path.
- This server never reads a run's data: the execute, input replies and results pass between the broker
  and the run's process only, so nothing of one run is left in the memory the next run is forked from.
  After a run, what it left unread on fd 3 is drained into a buffer that is then zeroed.
- This server is not dumpable (so no same-uid /proc/PID/mem or ptrace, on top of seccomp's ptrace
  denial) and ignores every catchable signal. SIGSTOP or SIGKILL from a run can only end in the
  broker's timeout or in the sandbox's death, never in a server that serves on altered.
- After each run every other process in the sandbox is SIGKILLed (kill(-1), inside the pid namespace)
  and reaped, the writable directories are emptied and checked empty, and the server's own nice
  value, CPU affinity, scheduler and rlimits are checked unchanged. Any failure is reported and the
  broker discards the sandbox.
- Random generators are reseeded in each run's process. The str/bytes hash seed is the server's and
  is shared by every run of one sandbox: a run can learn it, and later runs of the same sandbox use it.
"""

import ctypes
import fcntl
import gc
import os
import random
import resource
import select
import signal
import socket

from . import wire
from .inbox import Inbox

WRITABLE = ("/tmp", "/dev/shm")  # the sandbox's only writable mounts (src/sandbox/argv.ts)
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
SERVER_IN, SERVER_OUT = 6, 7  # broker → server, server → broker
EXIT_AGENT_ERROR = 70
UNCATCHABLE = (signal.SIGKILL, signal.SIGSTOP)
RLIMITS = tuple(getattr(resource, name) for name in sorted(dir(resource)) if name.startswith("RLIMIT_"))
STDIO = (0, 1, 2, 3, 4)  # shared by every run: the same open file descriptions (socket ends) in each
SOCKET_OPTIONS = tuple(getattr(socket, name) for name in ("SO_RCVLOWAT", "SO_SNDLOWAT", "SO_RCVBUF", "SO_SNDBUF", "SO_RCVTIMEO", "SO_SNDTIMEO"))
IOPRIO_GET = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)  # ioprio_get(2): no Python wrapper

_libc = ctypes.CDLL(None, use_errno=True)


class NotSandboxed(Exception):
    """kill(-1) would reach beyond the sandbox: process mode refuses to start."""


def prctl(option, value):
    if _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "prctl(%d): %s" % (option, os.strerror(errno)))


def check_sandboxed(read_comm=None):
    """kill(-1) is only safe as the child of bubblewrap's init in a pid namespace of its own, not as root."""
    if read_comm is None:
        read_comm = _read_init_comm
    if os.getppid() != 1 or os.getpid() == 1:
        raise NotSandboxed("not the child of a pid namespace's init (ppid %d)" % os.getppid())
    if os.getuid() == 0:
        raise NotSandboxed("running as uid 0")
    comm = read_comm()
    if comm != "bwrap":
        raise NotSandboxed("pid 1 is %r, not bubblewrap's init" % comm)


def _read_init_comm():
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def own_state():
    """What a run could change, from its own process, about this server, bubblewrap's init or the shared
    descriptors, and have it persist into later runs (each checked unchanged after every run)."""
    return (os.getpriority(os.PRIO_PROCESS, 0), frozenset(os.sched_getaffinity(0)), os.sched_getscheduler(0),
            tuple(resource.getrlimit(r) for r in RLIMITS), io_priority(),
            os.getpriority(os.PRIO_PROCESS, 1), _read("/proc/1/limits"),
            tuple(descriptor_state(fd) for fd in STDIO))


def io_priority():
    if IOPRIO_GET is None:
        return None
    return _libc.syscall(ctypes.c_long(IOPRIO_GET), ctypes.c_long(1), ctypes.c_long(0))  # IOPRIO_WHO_PROCESS, self


def descriptor_state(fd):
    """File status flags (O_NONBLOCK…), SIGIO owner, and for a socket its buffer, low-water and timeout
    options: all of them belong to the open file description every run shares. (A shutdown() is seen by
    the broker, as EOF on its end.)"""
    try:
        state = [fcntl.fcntl(fd, fcntl.F_GETFL), fcntl.fcntl(fd, fcntl.F_GETOWN)]
    except OSError as exc:
        return (exc.errno,)
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            state += [sock.getsockopt(socket.SOL_SOCKET, option, 16) for option in SOCKET_OPTIONS]
    except OSError as exc:
        state.append(exc.errno)  # not a socket (ENOTSOCK): the flags alone
    return tuple(state)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return exc.errno


def ignore_signals():
    """{signal: handler before}, for the run's process to restore."""
    before = {}
    for signum in signal.valid_signals():
        if signum in UNCATCHABLE or signum == signal.SIGCHLD:
            continue  # SIGCHLD keeps its default: SIG_IGN would make children reap themselves
        try:
            before[signum] = signal.signal(signum, signal.SIG_IGN)
        except (OSError, ValueError):
            pass  # a signal Python may not set (e.g. one the runtime reserves)
    return before


def restore_signals(before):
    for signum, handler in before.items():
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class ForkServer:
    """The loop: fork → (the run, in its own process) → ended → cleanup → cleaned. One run at a time."""

    def __init__(self, make_agent, finish, check=check_sandboxed):
        self.make_agent, self.finish = make_agent, finish
        check()
        self.writer = wire.fd_writer(SERVER_OUT)
        prctl(PR_SET_DUMPABLE, 0)
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of a run are reparented here, so all are reaped
        self.handlers = ignore_signals()
        self.state = own_state()
        self.modes = {path: os.stat(path).st_mode & 0o7777 for path in WRITABLE}
        self.times = {path: (os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns) for path in WRITABLE}
        self.scratch = bytearray(64 * 1024)

    def serve(self):
        # Objects that exist now are never collected in a run's process: its collector neither scans
        # them nor writes to their pages, each of which would be copied on write (measured: ~1 ms a run).
        gc.freeze()
        run, pid = 1, self.fork()
        while True:
            status, peak = wait_for(pid)
            kill_the_rest()
            self.drain_run_input()
            self.writer.send(ended(run, status, peak))
            if broker_gone():
                return 0
            # Clean up before the next fork, not after: every page this process writes after a fork is
            # copied (measured: the same cleanup took 0.85 ms after the fork, 0.35 ms before it).
            problem = self.cleanup()
            pid = self.fork()  # the next run's process, waiting for its execute
            self.writer.send(cleaned(run, pid, problem))
            run += 1

    def fork(self):
        pid = os.fork()
        if pid == 0:
            code = EXIT_AGENT_ERROR
            try:
                code = self.child()
            finally:
                os._exit(code)
        return pid

    def child(self):
        """In the run's fresh process: the single-mode agent's one run, on fds 3/4 (EOF there: none)."""
        os.close(SERVER_IN)
        os.close(SERVER_OUT)
        prctl(PR_SET_DUMPABLE, 1)  # its own /proc entries are its own, as in the other modes
        restore_signals(self.handlers)
        random.seed()  # os.fork already reseeds random's global instance; say so explicitly
        writer = wire.fd_writer(wire.CONTROL_OUT)
        inbox = Inbox(wire.fd_reader(wire.CONTROL_IN))
        agent = self.make_agent(writer.send, inbox)
        message = inbox.next()  # waits here, forked ahead, until the run's execute comes
        while message is not None and message.get("type") == "input_reply":
            message = inbox.next()  # a late reply to an earlier run's input() (the server drains them too)
        if message is None:
            return 0
        result, outcome = agent.handle(message)
        self.finish(outcome, exiting=True)
        writer.send(result)
        return outcome.exit_code

    def drain_run_input(self):
        """What the broker wrote on fd 3 that the run did not read (a late input reply): read, then zeroed."""
        poll = select.poll()
        poll.register(wire.CONTROL_IN, select.POLLIN)
        while poll.poll(0):
            count = os.readv(wire.CONTROL_IN, [self.scratch])
            self.scratch[:count] = bytes(count)
            if count == 0:
                raise wire.ProtocolError("the broker closed fd 3")

    def cleanup(self):
        """None when the sandbox is as it was before the run; otherwise what is not."""
        try:
            others = [name for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, os.getpid())]
            if others:
                return "processes survived the run: %s" % " ".join(sorted(others)[:10])[:400]
            for path in WRITABLE:
                wipe(path)
                os.chmod(path, self.modes[path])
                # Extended attributes (a default ACL would change the next run's file modes; user.* could
                # carry data) and the times of the directory itself, which the wipe does not reset.
                for name in os.listxattr(path):
                    os.removexattr(path, name)
                os.utime(path, ns=self.times[path])
                left = os.listdir(path) or os.listxattr(path)
                if left:
                    return "%s is not empty after the wipe: %s" % (path, left[:5])
            if own_state() != self.state:
                return "the run changed the server's or init's scheduling or limits, or the shared descriptors' flags"
        except (OSError, RecursionError) as exc:
            return ("cleanup failed: %s" % exc)[:500]
        return None


def wait_for(pid):
    """(wait status, peak RSS in bytes) of the run's process."""
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            return status, usage.ru_maxrss * 1024
        except InterruptedError:
            continue


def broker_gone():
    """EOF on fd 6: the broker closed its end (it writes nothing there)."""
    poll = select.poll()
    poll.register(SERVER_IN, select.POLLIN)
    return bool(poll.poll(0)) and os.read(SERVER_IN, 1) == b""


def ended(run, status, peak=None):
    """`peak`: the run's process's own peak RSS (ru_maxrss), which no sample of the broker's may have seen."""
    message = {"type": "ended", "run": run, "exitCode": None, "signal": None}
    if peak is not None:
        message["maxRssBytes"] = peak
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            message["signal"] = signal.Signals(number).name
        except ValueError:  # a real-time signal (32-64) has no name in Python
            message["signal"] = "SIG%d" % number
    else:
        message["exitCode"] = os.waitstatus_to_exitcode(status)
    return message


def cleaned(run, next_pid, problem=None):
    message = {"type": "cleaned", "run": run, "next": next_pid}
    if problem:
        message["problem"] = problem
    return message


def kill_the_rest():
    """SIGKILL every process of the pid namespace but init and this one, and reap them all."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing else was left
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def wipe(path):
    """Empties a directory without following symlinks; nothing else runs in the sandbox now."""
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)  # a run may leave a directory unreadable or unwritable
                wipe(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
