"""rlimits from the execute message, applied with soft = hard so user code cannot raise them."""

import resource


def plan(rlimits):
    """[(resource id, (value, value))] in name order; ValueError names a bad entry."""
    calls = []
    for name in sorted(rlimits):
        value = rlimits[name]
        known = name.isalpha() and name.isupper()
        resource_id = getattr(resource, "RLIMIT_" + name, None) if known else None
        if resource_id is None:
            raise ValueError("rlimits.%s: unknown resource limit" % name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError("rlimits.%s: expected a non-negative integer, got %r" % (name, value))
        calls.append((resource_id, (value, value)))
    return calls


def apply_rlimits(rlimits, setrlimit=resource.setrlimit):
    # Plan first so a bad entry fails before any limit is lowered.
    for resource_id, pair in plan(rlimits):
        setrlimit(resource_id, pair)
