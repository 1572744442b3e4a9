"""display(*objs) for user code: each object's MIME bundle, sent at once for the current run."""

from . import messages, output
from .serialize import make_bundle


class Current:
    """The run display() belongs to; the session updates it before each execute."""

    __slots__ = ("execute_id", "repr_limit")

    def __init__(self):
        self.execute_id, self.repr_limit = 0, messages.DEFAULT_REPR_LIMIT


def make_publish(send, current):
    """publish(bundle): one display message of the current run."""
    def publish(bundle):
        output.flush()  # output printed before display() is on its way before the display
        send(messages.display(current.execute_id, bundle))

    return publish


def make_display(send, current):
    publish = make_publish(send, current)

    def display(*objs):
        """Show each object as rich output (IPython's display protocol) of the current run."""
        for obj in objs:
            publish(make_bundle(obj, current.repr_limit))

    return display
