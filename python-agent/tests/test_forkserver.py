"""The fork server's pure parts (process mode): no sandbox needed.

The serve loop itself (kill(-1), the wipe of /tmp and /dev/shm) only ever runs inside a sandbox; the
security tests drive it there (test/security/process-mode.test.ts). Here: the refusal to run outside one,
the `ended` message, wipe() on a scratch directory, own_state(), and the signal dispositions.
"""

import os
import resource
import signal
import tempfile
import unittest
from unittest import mock

from pycell_agent import forkserver
from pycell_agent.forkserver import NotSandboxed, check_sandboxed, ended, own_state, wipe

NOBODY = 65534


def in_child(fn):
    """Runs fn() in a forked child; returns (exit code, what it wrote to the pipe). Nothing leaks into this process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            text = fn()
            os.write(write, (text or "").encode("utf-8", "backslashreplace"))
            code = 0
        except BaseException as exc:  # reported to the parent, never raised in the child
            try:
                os.write(write, ("%s: %s" % (type(exc).__name__, exc)).encode("utf-8", "backslashreplace"))
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def remove_tree(top):
    """Without recursion (a test tree may be deeper than the recursion limit) and whatever the modes."""
    stack, dirs = [top], []
    while stack:
        path = stack.pop()
        dirs.append(path)
        try:
            os.chmod(path, 0o700)
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        os.unlink(entry.path)
        except OSError:
            pass
    for path in reversed(dirs):
        try:
            os.rmdir(path)
        except OSError:
            pass


def drop_privileges():
    """As root, DAC does not apply: become nobody so that a chmod 000 really locks a directory."""
    if os.getuid() == 0:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)


class CheckSandboxedTest(unittest.TestCase):
    def check(self, ppid=1, pid=2, uid=1800000000, comm="bwrap"):
        reads = []

        def read_comm():
            reads.append(True)
            return comm

        with mock.patch.object(forkserver.os, "getppid", return_value=ppid), \
                mock.patch.object(forkserver.os, "getpid", return_value=pid), \
                mock.patch.object(forkserver.os, "getuid", return_value=uid):
            check_sandboxed(read_comm=read_comm)
        return reads

    def test_child_of_bwrap_init_as_a_plain_uid_passes(self):
        self.assertEqual(self.check(), [True])

    def test_refusals(self):
        rows = [
            (dict(ppid=4242), "not the child of a pid namespace's init (ppid 4242)"),
            (dict(ppid=0, pid=1), "not the child of a pid namespace's init (ppid 0)"),
            (dict(ppid=1, pid=1), "not the child of a pid namespace's init (ppid 1)"),
            (dict(uid=0), "running as uid 0"),
            (dict(comm="systemd"), "pid 1 is 'systemd', not bubblewrap's init"),
            (dict(comm="tini"), "pid 1 is 'tini', not bubblewrap's init"),
            (dict(comm=None), "pid 1 is None, not bubblewrap's init"),
            (dict(comm="bwrap2"), "pid 1 is 'bwrap2', not bubblewrap's init"),
        ]
        for kwargs, text in rows:
            with self.subTest(**kwargs):
                with self.assertRaises(NotSandboxed) as caught:
                    self.check(**kwargs)
                self.assertEqual(str(caught.exception), text)

    def test_uid_0_is_refused_before_pid_1_is_even_looked_at(self):
        with self.assertRaises(NotSandboxed):
            self.check(uid=0, comm="bwrap")
        with mock.patch.object(forkserver.os, "getppid", return_value=1), \
                mock.patch.object(forkserver.os, "getpid", return_value=2), \
                mock.patch.object(forkserver.os, "getuid", return_value=0):
            read_comm = mock.Mock(return_value="bwrap")
            with self.assertRaises(NotSandboxed):
                check_sandboxed(read_comm=read_comm)
            read_comm.assert_not_called()

    def test_this_test_process_is_not_sandboxed(self):
        # The real checks, on the host: never bubblewrap's init's child as a plain uid here.
        with self.assertRaises(NotSandboxed):
            check_sandboxed()

    def test_fork_server_refuses_before_touching_anything(self):
        with mock.patch.object(forkserver, "prctl") as prctl, \
                mock.patch.object(forkserver, "ignore_signals") as ignore, \
                mock.patch.object(forkserver.wire, "fd_writer") as writer:
            with self.assertRaises(NotSandboxed):
                forkserver.ForkServer(mock.Mock(), mock.Mock())  # the default check, on the host
            prctl.assert_not_called()
            ignore.assert_not_called()
            writer.assert_not_called()


class EndedTest(unittest.TestCase):
    def test_exit_codes(self):
        for code in (0, 1, 3, 70, 137, 255):
            with self.subTest(code=code):
                self.assertEqual(ended(4, code << 8), {"type": "ended", "run": 4, "exitCode": code, "signal": None})

    def test_signals(self):
        rows = [
            (signal.SIGKILL, "SIGKILL"),
            (signal.SIGTERM, "SIGTERM"),
            (signal.SIGSEGV | 0x80, "SIGSEGV"),  # core dumped
            (signal.SIGABRT, "SIGABRT"),
            (signal.SIGXCPU, "SIGXCPU"),
            (signal.SIGRTMIN, "SIGRTMIN"),
        ]
        for status, name in rows:
            with self.subTest(name=name):
                self.assertEqual(ended(1, status), {"type": "ended", "run": 1, "exitCode": None, "signal": name})

    def test_every_signal_a_run_can_die_of_is_named_within_the_schema(self):
        # src/protocol/agent.ts: signal is a string of at most 16 characters. A run may kill itself with any
        # signal, real-time ones included (SIGRTMIN+1 .. SIGRTMAX-1 have no name in signal.Signals).
        # ended() raising would end the fork server itself (dispatch.serve reports an internal error).
        bad = {}
        for signum in range(1, signal.SIGRTMAX + 1):
            try:
                message = ended(2, signum)
            except Exception as exc:
                bad[signum] = "%s: %s" % (type(exc).__name__, exc)
                continue
            name = message["signal"]
            if message["exitCode"] is not None or not isinstance(name, str) or not 0 < len(name) <= 16:
                bad[signum] = repr(message)
        self.assertEqual(bad, {})

    def test_real_processes(self):
        rows = [
            (lambda: os._exit(5), {"exitCode": 5, "signal": None}),
            (lambda: os._exit(0), {"exitCode": 0, "signal": None}),
            (lambda: os.kill(os.getpid(), signal.SIGKILL), {"exitCode": None, "signal": "SIGKILL"}),
            (lambda: os.kill(os.getpid(), signal.SIGTERM), {"exitCode": None, "signal": "SIGTERM"}),
        ]
        for action, expected in rows:
            with self.subTest(expected=expected):
                pid = os.fork()
                if pid == 0:
                    try:
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                        action()
                    finally:
                        os._exit(99)
                _, status = os.waitpid(pid, 0)
                self.assertEqual(ended(7, status), {"type": "ended", "run": 7, **expected})


class WipeTest(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="pycell-wipe-")
        os.chmod(self.base, 0o755)
        self.target = os.path.join(self.base, "target")  # stands for /tmp or /dev/shm
        self.outside = os.path.join(self.base, "outside")  # what symlinks point at: must survive
        os.mkdir(self.target)
        os.mkdir(self.outside)
        with open(os.path.join(self.outside, "keep.txt"), "w") as f:
            f.write("keep")
        os.mkdir(os.path.join(self.outside, "dir"))
        with open(os.path.join(self.outside, "dir", "inner.txt"), "w") as f:
            f.write("inner")
        if os.getuid() == 0:
            os.chown(self.target, NOBODY, NOBODY)

    def tearDown(self):
        remove_tree(self.base)

    def populate(self):
        """As the run would: everything a run can leave (runs as nobody when the test is root)."""
        t = self.target
        with open(os.path.join(t, "plain"), "w") as f:
            f.write("x")
        with open(os.path.join(t, ".hidden"), "w") as f:
            f.write("x")
        os.link(os.path.join(t, "plain"), os.path.join(t, "hardlink"))
        os.mkfifo(os.path.join(t, "fifo"))
        with open(os.fsencode(t) + b"/odd-\xff\n name", "w") as f:
            f.write("x")
        os.makedirs(os.path.join(t, "locked", "inner"))
        with open(os.path.join(t, "locked", "secret"), "w") as f:
            f.write("x")
        with open(os.path.join(t, "locked", "inner", "secret"), "w") as f:
            f.write("x")
        os.chmod(os.path.join(t, "locked", "inner"), 0)
        os.chmod(os.path.join(t, "locked"), 0)
        os.mkdir(os.path.join(t, "readonly"))
        with open(os.path.join(t, "readonly", "file"), "w") as f:
            f.write("x")
        os.chmod(os.path.join(t, "readonly"), 0o500)
        os.symlink(self.outside, os.path.join(t, "dir-link"))
        os.symlink(os.path.join(self.outside, "keep.txt"), os.path.join(t, "file-link"))
        os.symlink("/proc/self/root", os.path.join(t, "root-link"))
        os.symlink("/nonexistent/nowhere", os.path.join(t, "dangling"))
        deep = t
        for _ in range(50):
            deep = os.path.join(deep, "d")
        os.makedirs(deep)
        with open(os.path.join(deep, "bottom"), "w") as f:
            f.write("x")
        return "populated"

    def test_wipe_empties_the_directory_without_following_symlinks(self):
        def work():
            drop_privileges()
            self.populate()
            made = len(os.listdir(self.target))
            if os.access(os.path.join(self.target, "locked"), os.R_OK):
                raise AssertionError("the locked directory is readable: the test would not show that wipe unlocks it")
            wipe(self.target)
            return "%d %s" % (made, os.listdir(self.target))

        code, out = in_child(work)
        self.assertEqual(code, 0, out)
        made, left = out.split(" ", 1)
        self.assertGreaterEqual(int(made), 12, out)
        self.assertEqual(left, "[]", out)
        # What the symlinks pointed at is untouched.
        with open(os.path.join(self.outside, "keep.txt")) as f:
            self.assertEqual(f.read(), "keep")
        with open(os.path.join(self.outside, "dir", "inner.txt")) as f:
            self.assertEqual(f.read(), "inner")
        self.assertTrue(os.path.isdir(self.target))
        self.assertEqual(os.listdir(self.target), [])

    def test_an_unreadable_target_is_an_error_not_a_silent_success(self):
        # The fork server turns this OSError into a `problem` and the broker replaces the sandbox.
        def work():
            drop_privileges()
            with open(os.path.join(self.target, "kept"), "w") as f:
                f.write("x")
            os.chmod(self.target, 0)
            try:
                wipe(self.target)
            except PermissionError:
                return "refused"
            return "wiped"

        code, out = in_child(work)
        self.assertEqual((code, out), (0, "refused"))

    def test_a_tree_too_deep_to_recurse_is_an_error(self):
        # RecursionError (or OSError for a path past PATH_MAX): the fork server reports it, never hangs or passes.
        def work():
            os.chdir(self.target)
            for _ in range(1200):
                os.mkdir("d")
                os.chdir("d")
            os.chdir("/")
            try:
                wipe(self.target)
            except (RecursionError, OSError) as exc:
                return type(exc).__name__
            return "wiped"

        code, out = in_child(work)
        self.assertEqual(code, 0, out)
        self.assertIn(out, ("RecursionError", "OSError"), out)


class OwnStateTest(unittest.TestCase):
    def test_equal_twice_and_hashable(self):
        first, second = own_state(), own_state()
        self.assertEqual(first, second)
        self.assertEqual(hash(first), hash(second))
        nice, affinity, scheduler, limits, _ioprio, _init_nice, _init_limits, descriptors = first
        self.assertEqual(len(descriptors), len(forkserver.STDIO))
        self.assertEqual(nice, os.getpriority(os.PRIO_PROCESS, 0))
        self.assertEqual(affinity, frozenset(os.sched_getaffinity(0)))
        self.assertEqual(scheduler, os.sched_getscheduler(0))
        self.assertEqual(len(limits), len(forkserver.RLIMITS))
        self.assertIn(resource.RLIMIT_NOFILE, forkserver.RLIMITS)

    def test_changes_a_run_can_make_from_outside_are_seen(self):
        # In a child: raise the nice value, lower a soft rlimit, narrow the affinity, switch scheduler.
        def changed(change):
            def work():
                before = own_state()
                change()
                return "changed" if own_state() != before else "same"
            return work

        rows = {
            "nice": lambda: os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + 1)),
            "rlimit": lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])),
            "scheduler": lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)),
        }
        if len(os.sched_getaffinity(0)) > 1:
            rows["affinity"] = lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        for name, change in rows.items():
            with self.subTest(name=name):
                self.assertEqual(in_child(changed(change)), (0, "changed"))


class SignalsTest(unittest.TestCase):
    def test_ignore_then_restore(self):
        def work():
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            original = {signum: signal.getsignal(signum) for signum in signal.valid_signals() if signum not in forkserver.UNCATCHABLE}
            before = forkserver.ignore_signals()
            assert signal.SIGKILL not in before and signal.SIGSTOP not in before, "uncatchable signals in the table"
            assert signal.SIGCHLD not in before, "SIGCHLD must keep its disposition (SIG_IGN would let children reap themselves)"
            assert signal.getsignal(signal.SIGCHLD) == original[signal.SIGCHLD], "SIGCHLD changed"
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGSEGV, signal.SIGQUIT):
                assert signal.getsignal(signum) == signal.SIG_IGN, "%s is not ignored" % signum
                os.kill(os.getpid(), signum)  # survived
            forkserver.restore_signals(before)
            changed = {int(signum): (handler, signal.getsignal(signum)) for signum, handler in original.items()
                       if signal.getsignal(signum) != (signal.SIG_DFL if handler is None else handler)}
            assert not changed, "not restored: %r" % changed
            return "ok"

        self.assertEqual(in_child(work), (0, "ok"))


if __name__ == "__main__":
    unittest.main()


class WaitForTest(unittest.TestCase):
    def test_status_and_the_childs_own_peak_rss(self):
        # The child touches 64 MiB and exits: its peak, not the parent's, is reported with its status.
        pid = os.fork()
        if pid == 0:
            try:
                block = bytearray(64 << 20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
            finally:
                os._exit(3)
        status, peak = forkserver.wait_for(pid)
        self.assertEqual(os.waitstatus_to_exitcode(status), 3)
        self.assertGreater(peak, 64 << 20)
        self.assertEqual(ended(1, status, peak), {"type": "ended", "run": 1, "exitCode": 3, "signal": None, "maxRssBytes": peak})
