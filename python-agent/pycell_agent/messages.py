"""The agent hop's messages (protocol/agent.md): builders for ours, validators for the broker's."""

DEFAULT_REPR_LIMIT = 10000  # only for AgentError records of requests whose reprLimit was unusable


class BadRequest(Exception):
    """A broker message we refuse; `request_id` is None when even its id is unusable."""

    def __init__(self, request_id, message):
        super().__init__(message)
        self.request_id = request_id


class Execute:
    __slots__ = ("id", "code", "files", "rlimits", "repr_limit", "stdin", "cell", "interactive", "return_files")

    def __init__(self, id, code, files, rlimits, repr_limit, stdin=None, cell=None, interactive=False,
                 return_files=None):
        self.id, self.code, self.files = id, code, files
        self.rlimits, self.repr_limit = rlimits, repr_limit
        self.stdin, self.cell, self.interactive = stdin, cell, interactive
        self.return_files = return_files


class ReturnFiles:
    """execute.returnFiles: which files the run created or changed come back, within what bounds."""

    __slots__ = ("patterns", "max_files", "max_bytes", "max_file_bytes", "max_depth", "max_entries", "time_ms")

    def __init__(self, patterns, max_files, max_bytes, max_file_bytes, max_depth, max_entries, time_ms):
        self.patterns, self.max_files, self.max_bytes = patterns, max_files, max_bytes
        self.max_file_bytes, self.max_depth, self.max_entries = max_file_bytes, max_depth, max_entries
        self.time_ms = time_ms


class Complete:
    __slots__ = ("id", "code", "cursor")

    def __init__(self, id, code, cursor):
        self.id, self.code, self.cursor = id, code, cursor


class InputReply:
    __slots__ = ("id", "seq", "value")

    def __init__(self, id, seq, value):
        self.id, self.seq, self.value = id, seq, value


def ready(pid, python):
    return {"type": "ready", "pid": pid, "python": python}


def display(execute_id, data):
    return {"type": "display", "id": execute_id, "data": data}


def input_request(execute_id, seq, prompt, password):
    return {"type": "input", "id": execute_id, "seq": seq, "prompt": prompt, "password": password}


def completion(complete_id, matches, cursor_start, cursor_end):
    return {"type": "completion", "id": complete_id, "matches": matches,
            "cursorStart": cursor_start, "cursorEnd": cursor_end}


def result(execute_id, outcome, files=None, audit=None):
    """`files` only when the execute asked for returnFiles; `audit` (audit.Auditor.report) always, in practice."""
    message = {"type": "result", "id": execute_id, "status": outcome.status}
    if outcome.status == "ok":
        if outcome.value is not None:
            message["value"] = outcome.value
    else:
        message["error"] = outcome.error
    if files is not None:
        message["files"] = files
    if audit is not None:
        message["audit"] = audit
    return message


class _Absent:
    def __repr__(self):
        return "nothing"


_ABSENT = _Absent()  # a required field that is missing: no check accepts it (null is not absent)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value):
    return isinstance(value, str)


def _is_positive(value):
    return _is_int(value) and value > 0


def _is_count(value):
    return _is_int(value) and value >= 0


def _field(message, name, check, expected, request_id, default=..., where=None):
    """The field's value; `default` (when given) stands for an absent field, which then passes.

    `where` names a nested object ("execute.returnFiles"); by default the message's type.
    """
    if default is not ... and name not in message:
        return default
    value = message.get(name, _ABSENT)
    if value is _ABSENT or not check(value):
        raise BadRequest(request_id, "%s.%s: expected %s, got %.80r"
                         % (where or message["type"], name, expected, value))
    return value


def _is_file(entry):
    return (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("content"), str))


def _expect_type(message, kind):
    if message.get("type") != kind:
        raise BadRequest(None, "expected %s %s message, got type %.80r"
                         % ("an" if kind[0] in "aeiou" else "a", kind, message.get("type")))


def parse_execute(message):
    """An Execute, or BadRequest naming the field and the value received."""
    _expect_type(message, "execute")
    execute_id = _field(message, "id", _is_int, "an integer", None)
    code = _field(message, "code", _is_str, "a string", execute_id)
    files = _field(message, "files", lambda v: isinstance(v, list) and all(map(_is_file, v)),
                   "a list of {path: string, content: base64 string}", execute_id)
    rlimits = _field(message, "rlimits", lambda v: isinstance(v, dict) and all(map(_is_int, v.values())),
                     "an object of integers", execute_id)
    repr_limit = _field(message, "reprLimit", _is_count, "a non-negative integer", execute_id)
    stdin = _field(message, "stdin", _is_str, "a string", execute_id, None)
    cell = _field(message, "cell", _is_positive, "a positive integer", execute_id, None)
    interactive = _field(message, "interactive", lambda v: isinstance(v, bool), "a boolean", execute_id, False)
    return_files = _field(message, "returnFiles", lambda v: isinstance(v, dict), "an object", execute_id, None)
    if return_files is not None:
        return_files = _parse_return_files(return_files, execute_id)
    return Execute(execute_id, code, files, rlimits, repr_limit, stdin, cell, interactive, return_files)


_RETURN_FILES_LIMITS = ("maxFiles", "maxBytes", "maxFileBytes", "maxDepth", "maxEntries", "timeMs")


def _parse_return_files(spec, execute_id):
    where = "execute.returnFiles"
    # An absent `patterns` is null (every changed file), as a serializer dropping a null would leave it.
    patterns = _field(spec, "patterns", lambda v: v is None or (isinstance(v, list) and all(map(_is_str, v))),
                      "null or a list of strings", execute_id, None, where)
    limits = [_field(spec, name, _is_count, "a non-negative integer", execute_id, where=where)
              for name in _RETURN_FILES_LIMITS]
    return ReturnFiles(patterns, *limits)


def parse_complete(message):
    """A Complete; the cursor is an offset in code points, 0..len(code)."""
    _expect_type(message, "complete")
    complete_id = _field(message, "id", _is_int, "an integer", None)
    code = _field(message, "code", _is_str, "a string", complete_id)
    cursor = _field(message, "cursor", lambda v: _is_int(v) and 0 <= v <= len(code),
                    "an integer from 0 to %d" % len(code), complete_id)
    return Complete(complete_id, code, cursor)


def parse_input_reply(message):
    _expect_type(message, "input_reply")
    reply_id = _field(message, "id", _is_int, "an integer", None)
    seq = _field(message, "seq", _is_positive, "a positive integer", reply_id)
    value = _field(message, "value", lambda v: v is None or _is_str(v), "a string or null", reply_id)
    return InputReply(reply_id, seq, value)
