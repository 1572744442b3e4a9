"""A PEP 578 audit hook: what a run did that an operator may want to know, and the module policy.

Installed once before `ready` (an audit hook cannot be removed). Between runs it returns at once.
During a run it counts security-relevant events for the result's `audit`; during a run or a
completion it enforces the operator's module policy on the "import" event.

Both are advisory, not a security boundary (the sandbox is): the "import" event fires only when a
module is loaded, so a module already in sys.modules (the agent's own imports included) is not
checked again; importlib.import_module of a pure-Python module raises no "import" event for that
module; and code can hide behind a filename that is not a cell, a dir_fd, or a thread still running
after its run. The hook never calls anything that could run user code or raise the events it
handles (a per-thread guard stops re-entry anyway), and it raises nothing but the policy's
ModuleNotFoundError (an ImportError, so `except ImportError` fallbacks in libraries still work).
"""

import _thread
import json
import os
import sys

DETAIL_LIMIT = 200
MAX_EVENTS = 64  # distinct (event, detail) pairs per run; later new pairs only count as dropped
BLOCKED = "import of %r is blocked by the operator's module policy (advisory: this is not a security boundary)"
_AGENT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FS_ENCODING = sys.getfilesystemencoding()
_TYPE_NAME = type.__dict__["__name__"].__get__  # a metaclass cannot intercept this one
_WRITE_FLAGS = os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Policy:
    """--module-policy: `deny` applies to every import, `allow` (unless None) to those user code starts."""

    __slots__ = ("deny", "allow")

    def __init__(self, deny=(), allow=None):
        self.deny = frozenset(deny)
        self.allow = None if allow is None else frozenset(allow)

    def denies(self, name):
        """Whether `name` or one of its parent packages is denied."""
        parts = name.split(".")
        return any(".".join(parts[:n]) in self.deny for n in range(1, len(parts) + 1))


def parse_policy(text):
    """The Policy in --module-policy's JSON, or ValueError saying what is wrong with it."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError("not JSON: %s" % exc) from None
    if not isinstance(value, dict):
        raise ValueError("expected an object {\"deny\": [...], \"allow\": null | [...]}")
    unknown = sorted(set(value) - {"deny", "allow"})
    if unknown:
        raise ValueError("unknown key %r" % unknown[0])
    deny, allow = value.get("deny", []), value.get("allow")
    if not _names(deny):
        raise ValueError("deny: expected a list of module names, got %.80r" % (deny,))
    if allow is not None and not _names(allow):
        raise ValueError("allow: expected null or a list of module names, got %.80r" % (allow,))
    return Policy(deny, allow)


def _names(value):
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def interpreter_dirs():
    """Where the interpreter reads its own files: read-only opens under these are not recorded."""
    dirs = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, _AGENT_DIR]
    dirs += [entry for entry in sys.path if isinstance(entry, str)]
    found = []
    for entry in dirs:
        if not entry.startswith("/"):
            continue  # '' or a relative entry means the working directory, recorded anyway
        for path in (os.path.normpath(entry), os.path.realpath(entry)):
            if path != "/" and path not in found:  # "/" would exempt everything
                found.append(path)
    return tuple(found)


def under(path, directory):
    return path == directory or path.startswith(directory + "/")


def is_cell(filename):
    return (filename in ("<cell>", "<string>", "<stdin>")
            or (filename.startswith("<cell-") and filename.endswith(">")))


def brief(value, depth=0):
    """A repr for a detail that calls no user code: builtin types only, anything else by its type."""
    kind = type(value)
    if value is None or kind is bool or kind is float:
        return repr(value)
    if isinstance(value, str):
        return str.__repr__(str.__getitem__(value, slice(0, DETAIL_LIMIT)))
    if isinstance(value, bytes):
        return bytes.__repr__(bytes.__getitem__(value, slice(0, DETAIL_LIMIT)))
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, (tuple, list)) and depth < 2:
        base = tuple if isinstance(value, tuple) else list
        count = base.__len__(value)
        items = [brief(base.__getitem__(value, i), depth + 1) for i in range(min(count, 8))]
        if count > 8:
            items.append("...")
        if base is tuple:
            return "(%s)" % (items[0] + "," if count == 1 else ", ".join(items))
        return "[%s]" % ", ".join(items)
    return "<%s>" % _TYPE_NAME(kind)


def text(value):
    """A path or command: bytes as the file system decodes them, then brief()."""
    if isinstance(value, bytes):
        value = bytes.decode(value, _FS_ENCODING, "surrogateescape")
    return brief(value)


def clip(detail):
    """At most DETAIL_LIMIT characters, and no lone surrogate (the wire must stay valid UTF-8)."""
    if len(detail) > DETAIL_LIMIT:
        detail = detail[:DETAIL_LIMIT - 3] + "..."
    return detail.encode("utf-8", "backslashreplace").decode("utf-8")


class Auditor:
    """The hook's state. Agent.handle: clear(), begin() before user code, end() after, report()."""

    def __init__(self, policy=None, root="."):
        self.policy = policy
        self.root = os.path.abspath(root)
        self.read_dirs = interpreter_dirs()
        self.preloaded = frozenset(name.partition(".")[0] for name in list(sys.modules))
        self.active = False  # the policy applies (a run or a completion)
        self.recording = False  # events are counted (a run)
        self.busy = set()  # threads inside the hook: what it causes itself is not audited
        self.counts = {}
        self.dropped = 0

    def install(self):
        sys.addaudithook(self.hook)

    def clear(self):
        self.counts, self.dropped = {}, 0

    def begin(self, recording=True):
        self.recording = recording
        self.active = True

    def end(self):
        self.active = self.recording = False

    def report(self):
        events = [{"event": event, "detail": detail, "count": count}
                  for (event, detail), count in list(self.counts.items())]
        return {"events": events, "dropped": self.dropped}

    def hook(self, event, args):
        if not self.active:
            return
        handler = _HANDLERS.get(event)
        if handler is None:
            return
        thread = _thread.get_ident()
        if thread in self.busy:
            return
        self.busy.add(thread)
        try:
            blocked = handler(self, args)
        except Exception:  # the hook must never break what it watches
            blocked = None
        finally:
            self.busy.discard(thread)
        if blocked is not None:
            raise ModuleNotFoundError(BLOCKED % blocked, name=blocked)

    def record(self, event, detail):
        pair = (event, clip(detail))
        count = self.counts.get(pair)
        if count is not None:
            self.counts[pair] = count + 1
        elif len(self.counts) < MAX_EVENTS:
            self.counts[pair] = 1
        else:
            self.dropped += 1

    def on_import(self, args):
        """The module name to block, or None."""
        name = args[0] if args else None
        if self.policy is None or type(name) is not str:
            return None
        blocked = self.policy.denies(name)
        allow = self.policy.allow
        if not blocked and allow is not None:
            top = name.partition(".")[0]
            blocked = top not in allow and top not in self.preloaded and self.from_user_code()
        if not blocked:
            return None
        if self.recording:
            self.record("import.denied", name)
        return name

    def from_user_code(self):
        """Whether the first frame outside this module and importlib is a cell or a working-directory file."""
        # _getframe and f_code raise audit events of their own: not handled, the hook returns at once.
        frame = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename != _HOOK_FILE and not filename.startswith("<frozen importlib"):
                return is_cell(filename) or under(os.path.normpath(filename), self.root)
            frame = frame.f_back
        return False

    def on_open(self, args):
        if not self.recording or len(args) < 3:
            return None
        path, mode, flags = args[:3]
        if isinstance(path, bytes):
            path = bytes.decode(path, _FS_ENCODING, "surrogateescape")
        elif isinstance(path, str):
            path = str.__str__(path)
        else:
            return None  # a file descriptor: what it refers to was opened before
        full = os.path.normpath(os.path.join(self.cwd(), path))
        if under(full, self.root):
            return None
        if read_only(mode, flags) and any(under(full, directory) for directory in self.read_dirs):
            return None  # imports, the interpreter's data files
        # os.open gives flags and no mode.
        how = "flags=%#x" % flags if type(mode) is not str and type(flags) is int else brief(mode)
        self.record("open", "%s, %s" % (brief(full), how))
        return None

    def cwd(self):
        try:
            return os.getcwd()
        except OSError:  # user code removed it
            return self.root


def read_only(mode, flags):
    if type(flags) is int:
        return flags & os.O_ACCMODE == os.O_RDONLY and not flags & _WRITE_FLAGS
    return type(mode) is str and not any(letter in mode for letter in "wax+")


def _recorder(event, describe):
    def handle(auditor, args):
        if auditor.recording:
            auditor.record(event, describe(args))
        return None

    return handle


def _popen(args):
    executable, argv = args[0], args[1]
    shown = text(argv)
    first = list.__getitem__(argv, 0) if isinstance(argv, list) and list.__len__(argv) else None
    if type(executable) in (str, bytes) and type(first) is type(executable) and first == executable:
        return shown
    return "%s %s" % (text(executable), shown)


_HANDLERS = {
    "import": Auditor.on_import,
    "open": Auditor.on_open,
    "socket.connect": _recorder("socket.connect", lambda args: brief(args[1])),
    "socket.bind": _recorder("socket.bind", lambda args: brief(args[1])),
    "subprocess.Popen": _recorder("subprocess.Popen", _popen),
    "os.system": _recorder("os.system", lambda args: text(args[0])),
    "os.exec": _recorder("os.exec", lambda args: text(args[0])),
    "os.posix_spawn": _recorder("os.posix_spawn", lambda args: text(args[0])),
    "os.fork": _recorder("os.fork", lambda args: ""),
    "os.forkpty": _recorder("os.forkpty", lambda args: ""),
    "ctypes.dlopen": _recorder("ctypes.dlopen", lambda args: text(args[0])),
}
_HOOK_FILE = Auditor.from_user_code.__code__.co_filename
