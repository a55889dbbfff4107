"""grutool: find, name, split and convert the fused GRU weights in checkpoints.

    >>> import grutool
    >>> checkpoint = grutool.open_checkpoint("model.ckpt")
    >>> for cell in checkpoint.cells:
    ...     weights = checkpoint.canonical(cell)      # {"W_ir": ..., "b_hn": ...}
"""

__version__ = "0.1.0"

from .api import Checkpoint, open_checkpoint, split  # noqa: E402

__all__ = ["Checkpoint", "open_checkpoint", "split", "__version__"]
