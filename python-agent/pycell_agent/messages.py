"""The agent hop's messages (protocol/agent.md): builders for ours, a validator for the broker's."""

DEFAULT_REPR_LIMIT = 10000  # only for AgentError records of requests whose reprLimit was unusable


class BadRequest(Exception):
    """An execute message we refuse; `execute_id` is None when even its id is unusable."""

    def __init__(self, execute_id, message):
        super().__init__(message)
        self.execute_id = execute_id


class Execute:
    __slots__ = ("id", "code", "files", "rlimits", "repr_limit")

    def __init__(self, id, code, files, rlimits, repr_limit):
        self.id, self.code, self.files = id, code, files
        self.rlimits, self.repr_limit = rlimits, repr_limit


def ready(pid, python):
    return {"type": "ready", "pid": pid, "python": python}


def display(execute_id, data):
    return {"type": "display", "id": execute_id, "data": data}


def result(execute_id, outcome):
    message = {"type": "result", "id": execute_id, "status": outcome.status}
    if outcome.status == "ok":
        if outcome.value is not None:
            message["value"] = outcome.value
    else:
        message["error"] = outcome.error
    return message


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _field(message, name, check, expected, execute_id):
    value = message.get(name)
    if not check(value):
        raise BadRequest(execute_id, "execute.%s: expected %s, got %.80r" % (name, expected, value))
    return value


def _is_file(entry):
    return (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("content"), str))


def parse_execute(message):
    """An Execute, or BadRequest naming the field and the value received."""
    if message.get("type") != "execute":
        raise BadRequest(None, "expected an execute message, got type %.80r" % (message.get("type"),))
    execute_id = _field(message, "id", _is_int, "an integer", None)
    code = _field(message, "code", lambda v: isinstance(v, str), "a string", execute_id)
    files = _field(message, "files", lambda v: isinstance(v, list) and all(map(_is_file, v)),
                   "a list of {path: string, content: base64 string}", execute_id)
    rlimits = _field(message, "rlimits", lambda v: isinstance(v, dict) and all(map(_is_int, v.values())),
                     "an object of integers", execute_id)
    repr_limit = _field(message, "reprLimit", lambda v: _is_int(v) and v >= 0,
                        "a non-negative integer", execute_id)
    return Execute(execute_id, code, files, rlimits, repr_limit)
