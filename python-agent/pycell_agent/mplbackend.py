"""matplotlib backend (MPLBACKEND=module://pycell_agent.mplbackend): Agg, shown as display messages.

matplotlib imports this by name; it resolves because pycell_agent is already in sys.modules.
"""

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from . import figures

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args, **kwargs):
    """plt.show(): every open figure becomes a display message, then is closed (block= is moot)."""
    figures.show()
