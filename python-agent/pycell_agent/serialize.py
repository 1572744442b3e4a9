"""Values to MIME bundles (IPython's display protocol) and exceptions to error records."""

import base64
import json
import os
import traceback

_AGENT_DIR = os.path.dirname(os.path.abspath(__file__))
_AGENT_FILES = (os.path.join(_AGENT_DIR, ""), os.path.join(os.path.dirname(_AGENT_DIR), "main.py"))

# (method, MIME type), in the order IPython's formatters try them.
_REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_json_", "application/json"),
)


def truncate(text, limit):
    """Keep the first `limit` characters and say how many were cut."""
    if len(text) <= limit:
        return text
    return "%s…[truncated %d chars]" % (text[:limit], len(text) - limit)


def type_name(exc):
    """The exception's name as CPython's traceback prints it (module-qualified unless builtin)."""
    cls = type(exc)
    module = getattr(cls, "__module__", None)
    if module in (None, "builtins", "__main__"):
        return cls.__qualname__
    return "%s.%s" % (module, cls.__qualname__)


def safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def safe_repr(obj, limit):
    try:
        text = repr(obj)
    except Exception as exc:
        text = "<repr failed: %s: %s>" % (type_name(exc), safe_str(exc))
    return truncate(text, limit)


def make_bundle(obj, limit):
    """{mime: str}; text/plain is always our repr, other types come from the object's hooks."""
    rich = {}
    if not _skip_rich(obj):
        rich.update(_mimebundle(obj))
        for method, mime in _REPR_METHODS:
            if mime not in rich:
                data = _encode(mime, _call(obj, method))
                if data is not None:
                    rich[mime] = data
    rich.pop("text/plain", None)
    bundle = {"text/plain": safe_repr(obj, limit)}
    bundle.update(rich)
    return bundle


def _skip_rich(obj):
    # As IPython: a class's _repr_*_ are unbound, and mocks/proxies answer any getattr.
    if isinstance(obj, type):
        return True
    try:
        return getattr(obj, "_ipython_canary_method_should_not_exist_", None) is not None
    except Exception:
        return True


def _call(obj, name, *args, **kwargs):
    try:
        method = getattr(obj, name, None)
        if not callable(method):
            return None
        data = method(*args, **kwargs)
    except Exception:
        return None  # a failing repr method is skipped, as in IPython
    if isinstance(data, tuple) and len(data) == 2:
        data = data[0]  # (data, metadata)
    return data


def _mimebundle(obj):
    data = _call(obj, "_repr_mimebundle_", include=None, exclude=None)
    if not isinstance(data, dict):
        return {}
    encoded = ((mime, _encode(mime, value)) for mime, value in data.items() if isinstance(mime, str))
    return {mime: value for mime, value in encoded if value is not None}


def _encode(mime, data):
    """The wire form of one MIME entry, or None to skip it."""
    if data is None:
        return None
    if isinstance(data, (bytes, bytearray)):
        return base64.b64encode(data).decode("ascii")
    is_json = mime == "application/json" or mime.endswith("+json")
    if is_json and isinstance(data, str):
        try:
            json.loads(data)
        except ValueError:
            return None
        return data
    if is_json:
        try:
            return json.dumps(data, allow_nan=False)
        except Exception:
            return None
    return data if isinstance(data, str) else None


def is_agent_file(filename):
    return filename.startswith(_AGENT_FILES[0]) or filename == _AGENT_FILES[1]


def format_error(exc, limit):
    """{type, message, traceback} with the agent's frames removed from every chained exception."""
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _strip_agent_frames(report, set())
    lines = "".join(report.format()).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if isinstance(exc, SyntaxError) and isinstance(exc.msg, str):
        message = exc.msg
    else:
        message = safe_str(exc)
    return make_error(type_name(exc), message, lines, limit)


def make_error(type_, message, lines, limit):
    return {
        "type": type_,
        "message": truncate(message, limit),
        "traceback": [truncate(line, limit) for line in lines],
    }


def _strip_agent_frames(report, seen):
    if report is None or id(report) in seen:
        return
    seen.add(id(report))
    kept = [frame for frame in report.stack if not is_agent_file(frame.filename)]
    report.stack = traceback.StackSummary.from_list(kept)
    _strip_agent_frames(report.__cause__, seen)
    _strip_agent_frames(report.__context__, seen)
    for group_member in getattr(report, "exceptions", None) or ():
        _strip_agent_frames(group_member, seen)
