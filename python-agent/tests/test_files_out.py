"""execute.returnFiles: what comes back, and every bound, against trees a hostile run could leave."""

import itertools
import json
import os
import resource
import socket
import tempfile
import time
import unittest
from unittest import mock

from pycell_agent import files_out, messages, wire
from pycell_agent.dispatch import Agent
from pycell_agent.files import write_files
from tests.agentproc import AgentProcess, execute, run_single

TOO_MANY_FILES = "more than maxFiles changed files; the rest are not returned"
TOO_MANY_REFUSED = "more than maxFiles files refused; the rest are not listed"
TOO_DEEP = "deeper than maxDepth levels; not searched"
TOO_MANY_ENTRIES = "more than maxEntries entries in the working directory; the rest were not searched"
BAD_NAME = "name is not valid UTF-8"
X = {"size": 1, "content": "eA=="}  # b"x"


def spec(patterns=None, max_files=100, max_bytes=1 << 20, max_file_bytes=1 << 16, max_depth=8,
         max_entries=10000, time_ms=10000):
    return messages.ReturnFiles(patterns, max_files, max_bytes, max_file_bytes, max_depth, max_entries, time_ms)


def wire_spec(**fields):
    spec = {"patterns": None, "maxFiles": 100, "maxBytes": 1 << 20, "maxFileBytes": 1 << 16, "maxDepth": 8,
            "maxEntries": 10000, "timeMs": 10000}
    spec.update(fields)
    return spec


def x(path):
    return dict(X, path=path)


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))


def nest(root, levels, data):
    """root/d/d/.../d/f, `levels` directories deep, without recursion or long paths."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    leaf = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, data)
    os.close(leaf)
    os.close(fd)


def unnest(root):
    """Removes what nest() made, one level at a time (shutil.rmtree recurses)."""
    top, spare = os.path.join(root, "d"), os.path.join(root, "spare")
    while os.path.isdir(top):
        for name in os.listdir(top):
            if name != "d":
                os.unlink(os.path.join(top, name))
        if os.path.isdir(os.path.join(top, "d")):
            os.rename(os.path.join(top, "d"), spare)
            os.rmdir(top)
            os.rename(spare, top)
        else:
            os.rmdir(top)


class TreeTestCase(unittest.TestCase):
    def setUp(self):
        self.root = self.make_dir()

    def make_dir(self):
        handle = tempfile.TemporaryDirectory()
        self.addCleanup(handle.cleanup)
        return handle.name

    def write(self, rel, data=b"x", root=None):
        full = os.path.join(root or self.root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)

    def changes(self, run, root=None, **limits):
        """The result's `files` for a run: snapshot, run(), collect."""
        snap = files_out.snapshot(root or self.root, spec(**limits))
        run()
        return files_out.collect(snap)

    def writes(self, *rels, root=None):
        return lambda: [self.write(rel, root=root) for rel in rels]


class ChangedFilesTest(TreeTestCase):
    def test_created_and_changed_files_only(self):
        self.write("keep.txt", b"same")
        self.write("edit.txt", b"old")
        self.write("gone.txt", b"bye")

        def run():
            self.write("edit.txt", b"new")  # same size, at once: the snapshot waited for the clock to tick
            self.write("out/new.bin", b"\x00\x01")
            os.unlink(os.path.join(self.root, "gone.txt"))

        self.assertEqual(self.changes(run), [
            {"path": "edit.txt", "size": 3, "content": "bmV3"},
            {"path": "out/new.bin", "size": 2, "content": "AAE="},
        ])

    def test_nothing_changed(self):
        self.write("a/b.txt")
        self.assertEqual(self.changes(lambda: None), [])

    def test_input_files_the_run_leaves_alone_are_not_returned(self):
        write_files([{"path": "in/data.txt", "content": "b25l"}], self.root)  # b"one", as an execute's files
        self.assertEqual(self.changes(lambda: None), [])
        write_files([{"path": "in/data.txt", "content": "b25l"}], self.root)
        self.assertEqual(self.changes(lambda: self.write("in/data.txt", b"two")),
                         [{"path": "in/data.txt", "size": 3, "content": "dHdv"}])

    def test_walk_order_is_by_name_depth_first(self):
        run = self.writes("b", "a.txt", "a/x", "a/c/y", "A")
        self.assertEqual([entry["path"] for entry in self.changes(run)], ["A", "a/c/y", "a/x", "a.txt", "b"])

    def test_patterns(self):
        rows = [
            (None, ["n.txt", "r.csv", "sub/s.csv", "sub/t.txt"]),
            (["*.csv"], ["r.csv", "sub/s.csv"]),  # fnmatch's * also matches '/'
            (["sub/*"], ["sub/s.csv", "sub/t.txt"]),
            (["n.txt", "*/t.*"], ["n.txt", "sub/t.txt"]),
            (["?.csv"], ["r.csv"]),
            (["*.CSV"], []),  # case matters
            ([], []),
        ]
        for patterns, paths in rows:
            with self.subTest(patterns=patterns):
                root = self.make_dir()
                run = self.writes("r.csv", "sub/s.csv", "n.txt", "sub/t.txt", root=root)
                entries = self.changes(run, root=root, patterns=patterns)
                self.assertEqual(entries, [x(path) for path in paths])

    def test_only_regular_files_and_no_symlink_is_followed(self):
        outside = self.make_dir()
        self.write("secret.txt", b"outside", root=outside)

        def run():
            self.write("real.txt", b"real")
            os.symlink("/etc/passwd", os.path.join(self.root, "passwd"))
            os.symlink(outside, os.path.join(self.root, "outside"))
            os.symlink("loop", os.path.join(self.root, "loop"))
            os.symlink("missing", os.path.join(self.root, "dangling"))
            os.mkfifo(os.path.join(self.root, "pipe"))
            server = socket.socket(socket.AF_UNIX)
            self.addCleanup(server.close)
            server.bind(os.path.join(self.root, "sock"))

        self.assertEqual(self.changes(run), [{"path": "real.txt", "size": 4, "content": "cmVhbA=="}])

    def test_names_that_are_not_utf8(self):
        root = os.fsencode(self.root)

        def run():
            for rel in (b"bad\xff", b"dir\xfe/f", "good", "é.txt"):
                path = os.path.join(root, os.fsencode(rel))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(b"x")

        entries = self.changes(run)
        self.assertEqual(entries, [
            {"path": "bad\\xff", "error": BAD_NAME},
            {"path": "dir\\xfe/f", "error": BAD_NAME},
            x("good"),
            x("é.txt"),
        ])
        line = []
        wire.Writer(lambda data: line.append(bytes(data)) or len(data)).send({"files": entries})
        self.assertEqual(json.loads(b"".join(line).decode("ascii"))["files"], entries)
        self.assertNotIn(b"\\ud", b"".join(line))  # no lone surrogate, escaped or not


class LimitsTest(TreeTestCase):
    def test_sparse_terabyte_is_refused_by_size_unread(self):
        def run():
            with open(os.path.join(self.root, "huge"), "wb") as f:
                f.truncate(1 << 40)

        started = time.monotonic()
        entries = self.changes(run)
        self.assertEqual(entries, [{"path": "huge", "error": "1099511627776 bytes exceeds the per-file limit of 65536"}])
        self.assertLess(time.monotonic() - started, 1)

    def test_per_file_limit(self):
        run = lambda: (self.write("four", b"four"), self.write("fives", b"fives"))  # noqa: E731
        self.assertEqual(self.changes(run, max_file_bytes=4), [
            {"path": "fives", "error": "5 bytes exceeds the per-file limit of 4"},
            {"path": "four", "size": 4, "content": "Zm91cg=="},
        ])

    def test_total_limit_lets_a_later_small_file_in(self):
        run = lambda: (self.write("a", b"abcdef"), self.write("b", b"ghijkl"), self.write("c", b"wxyz"))  # noqa: E731
        self.assertEqual(self.changes(run, max_bytes=10), [
            {"path": "a", "size": 6, "content": "YWJjZGVm"},
            {"path": "b", "error": "would exceed the total limit of 10 bytes"},
            {"path": "c", "size": 4, "content": "d3h5eg=="},
        ])

    def test_max_files(self):
        rows = [
            (2, [x("a"), x("b"), {"path": "c", "error": TOO_MANY_FILES}]),
            (4, [x("a"), x("b"), x("c"), x("d")]),
            (0, [{"path": "a", "error": TOO_MANY_FILES}]),
        ]
        for max_files, entries in rows:
            with self.subTest(max_files=max_files):
                root = self.make_dir()
                self.assertEqual(self.changes(self.writes("a", "b", "c", "d", root=root), root=root,
                                              max_files=max_files), entries)

    def test_refused_files_are_bounded_too(self):
        self.assertEqual(self.changes(self.writes("a", "b", "c"), max_files=1, max_file_bytes=0), [
            {"path": "a", "error": "1 bytes exceeds the per-file limit of 0"},
            {"path": "b", "error": TOO_MANY_REFUSED},
        ])

    def test_max_depth(self):
        rows = [
            (2, [{"path": "d1/d2/d3", "error": TOO_DEEP}, x("d1/d2/f2"), x("d1/f1"), x("top")]),
            (0, [{"path": "d1", "error": TOO_DEEP}, x("top")]),
            (3, [x("d1/d2/d3/f"), x("d1/d2/e3/f"), x("d1/d2/f2"), x("d1/f1"), x("top")]),
        ]
        for max_depth, entries in rows:
            with self.subTest(max_depth=max_depth):
                root = self.make_dir()
                run = self.writes("d1/d2/d3/f", "d1/d2/e3/f", "d1/d2/f2", "d1/f1", "top", root=root)
                self.assertEqual(self.changes(run, root=root, max_depth=max_depth), entries)

    def test_thousand_nested_directories(self):
        self.addCleanup(unnest, self.root)
        nest(self.root, 1000, b"")
        deep = "/".join(["d"] * 1000) + "/f"

        def run():
            with open(os.path.join(self.root, deep), "wb") as f:
                f.write(b"deep")

        rows = [
            (1000, [{"path": deep, "size": 4, "content": "ZGVlcA=="}]),
            (10, [{"path": "/".join(["d"] * 11), "error": TOO_DEEP}]),
        ]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        for max_depth, entries in rows:
            with self.subTest(max_depth=max_depth):
                before = open_fds()
                resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))  # the sandbox's; the walk holds one dir fd
                try:
                    started = time.monotonic()
                    result = self.changes(run, max_depth=max_depth)
                finally:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
                self.assertEqual(result, entries)
                self.assertLess(time.monotonic() - started, 5)
                self.assertEqual(open_fds(), before)

    def test_max_entries(self):
        rows = [
            (5, ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"], [{"path": ".", "error": TOO_MANY_ENTRIES}]),
            (3, ["a/1", "a/2", "b"], [{"path": "a", "error": TOO_MANY_ENTRIES}]),
            (4, ["a/1", "a/2", "b"], [x("a/1"), x("a/2"), x("b")]),
        ]
        for max_entries, rels, entries in rows:
            with self.subTest(max_entries=max_entries):
                root = self.make_dir()
                self.assertEqual(self.changes(self.writes(*rels, root=root), root=root, max_entries=max_entries),
                                 entries)

    def test_many_files_are_not_all_examined(self):
        for n in range(500):
            os.close(os.open(os.path.join(self.root, "f%04d" % n), os.O_WRONLY | os.O_CREAT))
        started = time.monotonic()
        entries = self.changes(lambda: None, max_entries=50)
        self.assertEqual(entries, [{"path": ".", "error": TOO_MANY_ENTRIES}])
        self.assertLess(time.monotonic() - started, 1)

    def test_time_limit(self):
        snap = files_out.snapshot(self.root, spec(time_ms=0))
        self.write("a")
        with mock.patch.object(files_out.time, "monotonic_ns", side_effect=itertools.count(0, 1000)):
            entries = files_out.collect(snap)
        self.assertEqual(entries, [{"path": ".", "error": "took longer than timeMs (0 ms); the rest were not searched"}])


class SettleTest(unittest.TestCase):
    def test_waits_until_the_file_clock_passes_the_newest_change(self):
        ticks, sleeps = iter([5, 5, 6, 7]), []
        files_out.settle(5, now=lambda: next(ticks), sleep=sleeps.append)
        self.assertEqual(sleeps, [0.001, 0.001])

    def test_no_wait_for_older_changes(self):
        sleeps = []
        files_out.settle(5, now=lambda: 6, sleep=sleeps.append)
        self.assertEqual(sleeps, [])

    def test_a_timestamp_in_the_future_costs_50_ms_at_most(self):
        started = time.monotonic()
        files_out.settle(1 << 62, now=lambda: 0)
        self.assertLess(time.monotonic() - started, 0.5)


class HostileTreeTest(TreeTestCase):
    def collector(self):
        snap = files_out.snapshot(self.root, spec())
        self.addCleanup(snap.close)
        return files_out.Collector(snap)

    def test_file_replaced_after_the_walk_saw_it(self):
        self.write("other")
        os.mkfifo(os.path.join(self.root, "pipe"))
        os.symlink("/etc/passwd", os.path.join(self.root, "link"))
        collector = self.collector()
        seen = os.stat(os.path.join(self.root, "other"))
        rows = [
            ("pipe", "replaced while being read"),  # a FIFO opens at once (O_NONBLOCK) and is refused
            ("link", "Too many levels of symbolic links"),
        ]
        for name, text in rows:
            with self.subTest(name=name):
                dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    self.assertIsNone(collector._read(dir_fd, name, name, seen))
                finally:
                    os.close(dir_fd)
                self.assertEqual(collector.entries[-1], {"path": name, "error": text})

    def test_directory_moved_during_the_walk(self):
        for rel in ("a/b/f", "a/g", "c/h"):
            self.write(rel)
        seen, trouble = [], []

        class Sink:
            def refuse(self, rel, text):
                trouble.append((rel, text))

            note = refuse

        def visit(dir_fd, rel, name, st):
            seen.append(rel)
            if rel == "a/b/f":  # as a process left running by user code might: ".." of b is now c
                os.rename(os.path.join(self.root, "a", "b"), os.path.join(self.root, "c", "b"))

        root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        before = open_fds()
        try:
            files_out.Walk(spec(), Sink()).run(root_fd, visit)
        finally:
            os.close(root_fd)
        self.assertEqual((seen, trouble), (["a/b/f"], [("a", "moved during the search; the rest were not searched")]))
        self.assertEqual(len(open_fds()), len(before) - 1)

    def test_working_directory_fd_reused(self):
        outside = self.make_dir()
        snap = files_out.snapshot(self.root, spec())
        other = os.open(outside, os.O_RDONLY | os.O_DIRECTORY)
        os.dup2(other, snap.fd)  # as if user code closed our fd and opened another directory
        os.close(other)
        self.assertEqual(files_out.collect(snap),
                         [{"path": ".", "error": "the working directory was replaced during the run"}])
        self.assertIsNone(snap.fd)

    def test_missing_working_directory(self):
        snap = files_out.snapshot(os.path.join(self.root, "missing"), spec())
        self.assertEqual(files_out.collect(snap),
                         [{"path": ".", "error": "cannot read the working directory: No such file or directory"}])

    def test_agent_bug_is_one_entry(self):
        before = open_fds()
        snap = files_out.snapshot(self.root, spec())
        with mock.patch.object(files_out.Walk, "run", side_effect=RuntimeError("boom")):
            entries = files_out.collect(snap)
        self.assertEqual(entries, [{"path": ".", "error": "internal error: RuntimeError: boom"}])
        self.assertEqual(open_fds(), before)


class ReturnFilesFieldTest(unittest.TestCase):
    def message(self, return_files):
        return {"type": "execute", "id": 1, "code": "1", "files": [], "rlimits": {}, "reprLimit": 100,
                "returnFiles": return_files}

    def test_accepted(self):
        request = messages.parse_execute(self.message(wire_spec(patterns=["*.csv"], maxDepth=0)))
        rf = request.return_files
        self.assertEqual((rf.patterns, rf.max_files, rf.max_bytes, rf.max_file_bytes, rf.max_depth, rf.max_entries,
                          rf.time_ms), (["*.csv"], 100, 1 << 20, 1 << 16, 0, 10000, 10000))
        without = dict(wire_spec())
        del without["patterns"]
        self.assertIsNone(messages.parse_execute(self.message(without)).return_files.patterns)
        message = self.message(None)
        del message["returnFiles"]
        self.assertIsNone(messages.parse_execute(message).return_files)

    def test_refused(self):
        rows = [
            (None, "execute.returnFiles: expected an object, got None"),
            ([], "execute.returnFiles: expected an object, got []"),
            (wire_spec(patterns="*.csv"), "execute.returnFiles.patterns: expected null or a list of strings, got '*.csv'"),
            (wire_spec(patterns=["a", 1]), "execute.returnFiles.patterns: expected null or a list of strings, got ['a', 1]"),
            (wire_spec(maxFiles=-1), "execute.returnFiles.maxFiles: expected a non-negative integer, got -1"),
            (wire_spec(maxBytes=1.5), "execute.returnFiles.maxBytes: expected a non-negative integer, got 1.5"),
            (wire_spec(maxFileBytes=True), "execute.returnFiles.maxFileBytes: expected a non-negative integer, got True"),
            (wire_spec(maxDepth="8"), "execute.returnFiles.maxDepth: expected a non-negative integer, got '8'"),
            (wire_spec(maxEntries=None), "execute.returnFiles.maxEntries: expected a non-negative integer, got None"),
            ({"patterns": None, "maxFiles": 1, "maxBytes": 1, "maxFileBytes": 1, "maxDepth": 1, "maxEntries": 1},
             "execute.returnFiles.timeMs: expected a non-negative integer, got nothing"),
        ]
        for value, text in rows:
            with self.subTest(text=text):
                with self.assertRaises(messages.BadRequest) as caught:
                    messages.parse_execute(self.message(value))
                self.assertEqual((caught.exception.request_id, str(caught.exception)), (1, text))


class AgentReturnFilesTest(unittest.TestCase):
    """Agent.handle in-process: `files` only when asked, per execute in a session."""

    def setUp(self):
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        self.root = root.name
        self.agent = Agent(lambda message: None, root=self.root, apply_rlimits=lambda rlimits: None)

    def handle(self, code, execute_id, files=(), **fields):
        message = {"type": "execute", "id": execute_id, "code": code, "files": list(files), "rlimits": {},
                   "reprLimit": 100, **fields}
        return self.agent.handle(message)[0]

    def write_code(self, name, text):
        return "with open(%r, 'w') as f:\n    f.write(%r)" % (os.path.join(self.root, name), text)

    def test_each_execute_returns_its_own_changes(self):
        rows = [
            (self.write_code("out.txt", "one"), [{"path": "out.txt", "size": 3, "content": "b25l"}]),
            ("pass", []),
            (self.write_code("out.txt", "two"), [{"path": "out.txt", "size": 3, "content": "dHdv"}]),
        ]
        for execute_id, (code, files) in enumerate(rows, 1):
            with self.subTest(code=code):
                result = self.handle(code, execute_id, files=[{"path": "in.txt", "content": "aW4="}],
                                     returnFiles=wire_spec())
                self.assertEqual((result["status"], result["files"]), ("ok", files))

    def test_not_asked_means_no_files_key(self):
        result = self.handle(self.write_code("out.txt", "one"), 1)
        self.assertNotIn("files", result)

    def test_refused_input_file_gives_an_empty_list(self):
        result = self.handle("pass", 1, files=[{"path": "../x", "content": ""}], returnFiles=wire_spec())
        self.assertEqual((result["error"]["type"], result["files"]), ("AgentError", []))

    def test_error_in_the_run_still_returns_files(self):
        result = self.handle(self.write_code("partial.txt", "x") + "\n1 / 0", 1, returnFiles=wire_spec())
        self.assertEqual((result["error"]["type"], result["files"]), ("ZeroDivisionError", [x("partial.txt")]))


class ReturnFilesProcessTest(unittest.TestCase):
    """Through main.py, as the broker drives it."""

    def setUp(self):
        cwd = tempfile.TemporaryDirectory()
        self.addCleanup(cwd.cleanup)
        self.cwd = cwd.name

    def test_single_mode(self):
        code = ("import os\nos.makedirs('out')\n"
                "open('out/a.csv', 'w').write('1,2\\n')\nopen('b.txt', 'w').write('b')\nos.chdir('/')")
        message = dict(execute(code, files=[{"path": "in.csv", "content": "aW4="}]),
                       returnFiles=wire_spec(patterns=["*.csv"]))
        finished = run_single(self.cwd, message)
        result = finished.messages[-1]
        self.assertEqual(result, {"type": "result", "id": 1, "status": "ok",
                                  "files": [{"path": "out/a.csv", "size": 4, "content": "MSwyCg=="}],
                                  "audit": {"events": [], "dropped": 0}})
        self.assertEqual(finished.returncode, 0)

    def test_session_mode_returns_each_runs_changes(self):
        agent = AgentProcess("session", self.cwd)
        self.assertEqual(agent.next_message()["type"], "ready")
        rows = [
            ("open('a.txt', 'w').write('x')", [x("a.txt")]),
            ("open('b.txt', 'w').write('x')", [x("b.txt")]),
            ("open('a.txt', 'a').write('y')", [{"path": "a.txt", "size": 2, "content": "eHk="}]),
            ("import os\nos.mkfifo('p')\nos.symlink('/etc/passwd', 'l')", []),
        ]
        for execute_id, (code, files) in enumerate(rows, 1):
            with self.subTest(code=code):
                agent.send(dict(execute(code, execute_id=execute_id), returnFiles=wire_spec()))
                result = agent.next_message()
                self.assertEqual((result["status"], result["files"]), ("ok", files))
        finished = agent.finish()
        self.assertEqual((finished.returncode, finished.stderr), (0, b""))


if __name__ == "__main__":
    unittest.main()
