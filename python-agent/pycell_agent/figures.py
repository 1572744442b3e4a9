"""Open matplotlib figures become display messages: at plt.show() and at the end of every run.

Notebooks show the figures a cell leaves open; this does the same without importing matplotlib:
nothing happens unless user code imported matplotlib.pyplot.
"""

import base64
import io
import sys

from . import output
from .serialize import safe_repr, safe_str, type_name

BACKEND = "module://pycell_agent.mplbackend"

on_show = None  # the session's show_figures, for plt.show() (set by Session.register_as_main)


def show():
    """plt.show(): send and close every open figure of the current run."""
    if on_show is not None:
        on_show()


def open_figures():
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if "matplotlib.pyplot" not in sys.modules or helpers is None:
        return []
    return [manager.canvas.figure for manager in helpers.Gcf.get_all_fig_managers()]


def render(figure, limit):
    """{text/plain: repr, image/png: base64} for one figure."""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return {"text/plain": safe_repr(figure, limit), "image/png": base64.b64encode(png.getvalue()).decode("ascii")}


def send_open_figures(publish, limit):
    """publish(bundle) for each open figure, then close it. Rendering errors never escape."""
    try:
        figures = open_figures()
    except Exception as exc:
        return report(exc)
    for number, figure in enumerate(figures, 1):
        try:
            publish(render(figure, limit))
        except Exception as exc:
            report(exc, number)
        finally:
            close(figure)


def close(figure):
    try:
        sys.modules["matplotlib.pyplot"].close(figure)
    except Exception as exc:
        report(exc)


def report(exc, number=None):
    what = "figure" if number is None else "figure %d" % number
    text = "pycell: cannot show %s: %s: %s" % (what, type_name(exc), safe_str(exc))
    output.flush()
    output.write_stderr_line(" ".join(text.split()))  # one line, whatever the message holds
