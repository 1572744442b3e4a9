"""Tab completion without evaluating code: names, attributes reached by getattr alone, modules.

Like rlcompleter, minus eval: the dotted name before the cursor is resolved in the namespace,
then by getattr, part by part. No calls, no subscripts. User code can still run (properties,
__getattr__, __dir__), so anything it raises ends the search with what was found so far.
"""

import builtins
import keyword
import re
import sys

MAX_MATCHES = 1000
MAX_MATCH_LENGTH = 1000
KEYWORDS = tuple(keyword.kwlist) + tuple(keyword.softkwlist)

# The statement before the dotted name, from its start (after a newline or ";", indentation dropped).
_IMPORT = re.compile(r"import\s+(?:[\w.]+(?:\s+as\s+\w+)?\s*,\s*)*\Z")
_FROM = re.compile(r"from\s+\Z")
_FROM_IMPORT = re.compile(r"from\s+([\w.]+)\s+import\s+\(?\s*(?:\w+(?:\s+as\s+\w+)?\s*,\s*)*\Z")


def token_start(code, cursor):
    """Where the dotted name ending at the cursor starts (identifier characters and dots)."""
    start = cursor
    while start > 0 and (code[start - 1] == "." or ("_" + code[start - 1]).isidentifier()):
        start -= 1
    return start


def complete(code, cursor, namespace):
    """(matches, cursor_start, cursor_end); matches replace code[cursor_start:cursor_end].

    KeyboardInterrupt propagates (the caller answers no matches); nothing else does.
    """
    start = token_start(code, cursor)
    parts = code[start:cursor].split(".")
    prefix = parts[-1]
    statement = re.split(r"[\n;]", code[:start])[-1].lstrip()
    found = set()
    try:
        for name in candidates(statement, parts, namespace):
            if wanted(name, prefix):
                found.add(name)
    except KeyboardInterrupt:
        raise
    except BaseException:  # a user __getattr__, __dir__ or property: keep what was found so far
        pass
    return sorted(found)[:MAX_MATCHES], cursor - len(prefix), cursor


def wanted(name, prefix):
    return (isinstance(name, str) and name.startswith(prefix) and len(name) <= MAX_MATCH_LENGTH
            and (prefix.startswith("_") or not name.startswith("_")))


def candidates(statement, parts, namespace):
    """Every name that could complete the last part; wanted() filters them."""
    if not all(part.isidentifier() for part in parts[:-1]):
        return  # e.g. "1.5" or "x..y": not a dotted name
    from_import = _FROM_IMPORT.match(statement)
    if from_import:
        module = sys.modules.get(from_import.group(1))
        if module is not None and len(parts) == 1:
            yield from dir(module)
    elif _IMPORT.match(statement) or _FROM.match(statement):
        yield from module_names(parts[:-1])
    elif len(parts) == 1:
        yield from KEYWORDS
        yield from dir(builtins)
        yield from list(namespace)
    else:
        yield from dir(resolve(parts[:-1], namespace))


def resolve(names, namespace):
    """The object a dotted name refers to, by lookup and getattr only (AttributeError if none)."""
    first = names[0]
    if first in namespace:
        obj = namespace[first]
    else:
        obj = getattr(builtins, first)
    for name in names[1:]:
        obj = getattr(obj, name)
    return obj


def module_names(package):
    """Top-level modules (package == []), or submodules of a package already imported."""
    import pkgutil  # only here: it costs agent start-up time that most sessions never use

    if not package:
        yield from sys.builtin_module_names
        path = None
    else:
        path = getattr(sys.modules.get(".".join(package)), "__path__", None)
        if path is None:
            return
    for info in pkgutil.iter_modules(path):
        yield info.name
