"""grutool: find, name, split and convert the fused GRU weights in checkpoints.

    >>> import grutool
    >>> checkpoint = grutool.open_checkpoint("model.ckpt")
    >>> for cell in checkpoint.cells:
    ...     weights = checkpoint.canonical(cell)      # {"W_ir": ..., "b_hn": ...}
    >>> grutool.split("model.ckpt", "weights.npz")
    >>> grutool.convert_file("model.keras", "pytorch", "gru.safetensors")
    >>> grutool.verify_files("model.keras", "gru.safetensors").ok
    True
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402
    Checkpoint,
    convert_file,
    inspect_report,
    open_checkpoint,
    split,
    verify_files,
)
from .errors import GrutoolError  # noqa: E402

__all__ = ["Checkpoint", "GrutoolError", "convert_file", "inspect_report", "open_checkpoint",
           "split", "verify_files", "__version__"]
