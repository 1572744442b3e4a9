"""execute.returnFiles: the regular files a run created or changed under the working directory.

A snapshot taken just before user code runs keeps each regular file's (inode, size, mtime, ctime);
after the run a second walk returns the files whose key differs or that are new. User code chose
what the tree holds, so both walks go through directory fds and never follow a symlink (symlinks,
FIFOs, sockets and devices are skipped, not listed), use an explicit stack (no recursion limit), and
stop at the request's bounds. Patterns use fnmatch.fnmatchcase on the '/'-separated relative path,
whose `*` also matches '/': "*.csv" matches "out/a.csv".

Entries come in walk order. A refused file gets an error entry instead of its content; error entries
for single files are capped at maxFiles too, so the list stays bounded whatever the tree holds.
"""

import base64
import fnmatch
import os
import stat
import time

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the walk opens at once instead of waiting for a writer.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20
_CLOCK_REALTIME_COARSE = 5  # Linux: the clock tmpfs takes file timestamps from
_SETTLE_NS = 50 * 1000 * 1000

TOO_MANY_FILES = "more than maxFiles changed files; the rest are not returned"
TOO_MANY_REFUSED = "more than maxFiles files refused; the rest are not listed"
TOO_DEEP = "deeper than maxDepth levels; not searched"
TOO_MANY_ENTRIES = "more than maxEntries entries in the working directory; the rest were not searched"
TOO_SLOW = "took longer than timeMs (%d ms); the rest were not searched"
TOO_BIG = "%d bytes exceeds the per-file limit of %d"
OVER_TOTAL = "would exceed the total limit of %d bytes"
BAD_NAME = "name is not valid UTF-8"
REPLACED = "replaced while being read"
ROOT_REPLACED = "the working directory was replaced during the run"
MOVED = "moved during the search; the rest were not searched"


class _Stop(Exception):
    """Ends a walk; the reason is already in the list."""


def key(st):
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def is_utf8(rel):
    # os.scandir gives a name that is not UTF-8 with surrogate escapes, which strict encoding refuses.
    try:
        rel.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def display_path(rel):
    """`rel` as sent: '.' for the root, bytes that are not UTF-8 as \\x escapes (no lone surrogates)."""
    if not rel:
        return "."
    return rel if is_utf8(rel) else os.fsencode(rel).decode("utf-8", "backslashreplace")


def error(rel, text):
    return {"path": display_path(rel), "error": text}


def _file_clock():
    try:
        time.clock_gettime_ns(_CLOCK_REALTIME_COARSE)
        return lambda: time.clock_gettime_ns(_CLOCK_REALTIME_COARSE)
    except (AttributeError, OSError):
        return time.time_ns


_file_now = _file_clock()


def settle(newest_ctime_ns, now=_file_now, sleep=time.sleep):
    """Wait (a clock tick at most) until file timestamps have moved past `newest_ctime_ns`.

    A change in the same tick as the snapshot would keep (inode, size, mtime, ctime) as they were:
    an input file written just before, then rewritten by user code to the same size, would look
    unchanged. Bounded, in case a timestamp lies in the future.
    """
    deadline = time.monotonic_ns() + _SETTLE_NS
    while now() <= newest_ctime_ns and time.monotonic_ns() < deadline:
        sleep(0.001)


class _Frame:
    __slots__ = ("prefix", "depth", "names", "id")

    def __init__(self, prefix, depth, dir_id):
        self.prefix, self.depth, self.names, self.id = prefix, depth, [], dir_id


class Walk:
    """Depth first, names sorted, never through a symlink, with one directory fd open at a time.

    A deep tree costs no fds (RLIMIT_NOFILE is small in the sandbox): the walk climbs back through
    "..", which is never a symlink, and checks it reaches the directory it left (same inode).
    visit(dir_fd, rel, name, st) sees each regular file. Trouble goes to the sink: refuse(rel, text)
    for one directory or file (the walk goes on), note(rel, text) for a one-off, after which `_Stop`
    may end the walk. The root fd belongs to the caller.
    """

    def __init__(self, spec, sink, deadline_ns=None):
        self.spec, self.sink, self.deadline_ns = spec, sink, deadline_ns
        self.entries = 0
        self.deep_noted = False
        self.root_fd = self.fd = None

    def run(self, root_fd, visit):
        self.root_fd = self.fd = root_fd
        stack = [_Frame("", 0, _dir_id(root_fd))]
        try:
            stack[0].names = self._list(root_fd, "")
            while stack:
                frame = stack[-1]
                if not frame.names:
                    stack.pop()
                    if stack:
                        self._climb(stack[-1])
                    continue
                name, is_dir = frame.names.pop()
                rel = frame.prefix + name
                self._check_time(rel)
                if is_dir:
                    self._enter(stack, rel, name, frame.depth + 1)
                    continue
                try:
                    st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
                except OSError as exc:
                    self.sink.refuse(rel, os.strerror(exc.errno or 0))
                    continue
                if stat.S_ISREG(st.st_mode):
                    visit(self.fd, rel, name, st)
        except _Stop:
            pass
        finally:
            self._move_to(self.root_fd)

    def _move_to(self, fd):
        if self.fd != self.root_fd:
            os.close(self.fd)
        self.fd = fd

    def _enter(self, stack, rel, name, depth):
        if depth > self.spec.max_depth:
            if not self.deep_noted:
                self.deep_noted = True
                self.sink.note(rel, TOO_DEEP)
            return
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as exc:  # ELOOP/ENOTDIR: replaced by a symlink since it was listed
            self.sink.refuse(rel, os.strerror(exc.errno or 0))
            return
        self._move_to(child)
        frame = _Frame(rel + "/", depth, _dir_id(child))
        stack.append(frame)
        frame.names = self._list(child, rel)

    def _climb(self, parent):
        if parent.depth == 0:
            return self._move_to(self.root_fd)
        try:
            up = os.open("..", _DIR_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            self.sink.note(parent.prefix[:-1], os.strerror(exc.errno or 0))
            raise _Stop from None
        self._move_to(up)
        if _dir_id(up) != parent.id:
            self.sink.note(parent.prefix[:-1], MOVED)
            raise _Stop
        return None

    def _list(self, fd, rel):
        """This directory's (name, is_dir) pairs, reversed so that pop() gives them in name order."""
        names = []
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    self.entries += 1
                    if self.entries > self.spec.max_entries:
                        self.sink.note(rel, TOO_MANY_ENTRIES)
                        raise _Stop
                    self._check_time(rel)
                    if entry.is_dir(follow_symlinks=False):
                        names.append((entry.name, True))
                    elif entry.is_file(follow_symlinks=False):
                        names.append((entry.name, False))
                    # else a symlink, FIFO, socket or device: skipped silently
        except OSError as exc:
            self.sink.refuse(rel, os.strerror(exc.errno or 0))
            return []
        names.sort(reverse=True)
        return names

    def _check_time(self, rel):
        if self.deadline_ns is not None and time.monotonic_ns() > self.deadline_ns:
            self.sink.note(rel, TOO_SLOW % self.spec.time_ms)
            raise _Stop


def _dir_id(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


class _Quiet:
    """The snapshot's sink: what it cannot see, the collection will report."""

    def refuse(self, rel, text):
        pass

    def note(self, rel, text):
        pass


class Snapshot:
    """The working directory as it was before the run: its fd (a chdir in user code changes nothing)
    and the key of each regular file. close() it, whatever happens."""

    def __init__(self, spec):
        self.spec = spec
        self.fd = None
        self.root_id = None
        self.keys = {}
        self.error = None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def snapshot(root, spec):
    """A Snapshot of `root` for a messages.ReturnFiles; never raises."""
    snap = Snapshot(spec)
    try:
        snap.fd = os.open(root, _DIR_FLAGS)
        snap.root_id = _dir_id(snap.fd)
        newest = [0]

        def visit(dir_fd, rel, name, st):
            snap.keys[rel] = key(st)
            newest[0] = max(newest[0], st.st_ctime_ns)

        Walk(spec, _Quiet()).run(snap.fd, visit)
        settle(newest[0])
    except Exception as exc:  # the collection reports it in place of any file
        snap.error = "cannot read the working directory: %s" % _reason(exc)
    return snap


def _reason(exc):
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return "%s: %s" % (type(exc).__name__, exc)


class Collector:
    """The result's `files`: content entries and error entries, in walk order, within the bounds."""

    def __init__(self, snap):
        self.snap, self.spec = snap, snap.spec
        self.entries = []
        self.returned = self.refused = self.total = 0  # refused files are capped at maxFiles too
        self.deadline_ns = time.monotonic_ns() + self.spec.time_ms * 1000000
        self.patterns = self.spec.patterns

    def run(self):
        snap = self.snap
        if snap.error is not None:
            self.entries.append(error("", snap.error))
            return
        if _dir_id(snap.fd) != snap.root_id:  # user code closed our fd and reused the number
            self.entries.append(error("", ROOT_REPLACED))
            return
        Walk(self.spec, self, self.deadline_ns).run(snap.fd, self.visit)

    def refuse(self, rel, text):
        if self.refused >= self.spec.max_files:
            self.note(rel, TOO_MANY_REFUSED)
            raise _Stop
        self.refused += 1
        self.entries.append(error(rel, text))

    def note(self, rel, text):
        self.entries.append(error(rel, text))

    def visit(self, dir_fd, rel, name, st):
        if self.snap.keys.get(rel) == key(st) or not self._matches(rel):
            return
        if self.returned >= self.spec.max_files:
            self.note(rel, TOO_MANY_FILES)
            raise _Stop
        if not is_utf8(rel):
            return self.refuse(rel, BAD_NAME)
        limit = self.spec.max_file_bytes
        if st.st_size > limit:  # by size, unread: a sparse 1 TiB file costs nothing
            return self.refuse(rel, TOO_BIG % (st.st_size, limit))
        if self.total + st.st_size > self.spec.max_bytes:
            return self.refuse(rel, OVER_TOTAL % self.spec.max_bytes)
        data = self._read(dir_fd, rel, name, st)
        if data is None:
            return None
        if self.total + len(data) > self.spec.max_bytes:  # it grew since the walk saw it
            return self.refuse(rel, OVER_TOTAL % self.spec.max_bytes)
        self.total += len(data)
        self.returned += 1
        self.entries.append({"path": rel, "size": len(data), "content": base64.b64encode(data).decode("ascii")})
        return None

    def _matches(self, rel):
        return self.patterns is None or any(fnmatch.fnmatchcase(rel, pattern) for pattern in self.patterns)

    def _read(self, dir_fd, rel, name, seen):
        """At most maxFileBytes bytes of the very file the walk saw, or None after refusing it."""
        limit = self.spec.max_file_bytes
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:  # ELOOP: replaced by a symlink since the walk
            return self.refuse(rel, os.strerror(exc.errno or 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino):
                return self.refuse(rel, REPLACED)
            chunks, left = [], limit + 1
            while left > 0:
                self.check_time(rel)
                chunk = os.read(fd, min(left, _CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
            if len(data) > limit:  # it grew since the walk saw it
                return self.refuse(rel, TOO_BIG % (max(os.fstat(fd).st_size, len(data)), limit))
            return data
        except OSError as exc:
            return self.refuse(rel, os.strerror(exc.errno or 0))
        finally:
            os.close(fd)

    def check_time(self, rel):
        if time.monotonic_ns() > self.deadline_ns:
            self.note(rel, TOO_SLOW % self.spec.time_ms)
            raise _Stop


def collect(snap):
    """The result's `files` for a Snapshot taken before the run; closes it; never raises."""
    collector = None
    try:
        collector = Collector(snap)
        collector.run()
        return collector.entries
    except _Stop:
        return collector.entries
    except Exception as exc:  # an agent bug: what was gathered, and one entry saying why it ended
        entries = [] if collector is None else collector.entries
        entries.append(error("", "internal error: %s" % _reason(exc)))
        return entries
    finally:
        snap.close()
