"""What a TensorFlow user would write to do what `grutool split` does on a stack of TF 1
GRUCells, as a `python -c` script: both benchmarks time it beside grutool."""


def tf_split_script(cells: int, cell_scope: str) -> str:
    """Reads `cells` GRUCells named `cell_scope.format(k=k)` from the checkpoint argv[1] and
    writes their per-gate arrays to the npz argv[2]."""
    return f"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
reader = tf.train.load_checkpoint(sys.argv[1])
out = {{}}
for k in range({cells}):
    scope = "{cell_scope}".format(k=k)
    gk = reader.get_tensor(scope + "/gates/kernel"); gb = reader.get_tensor(scope + "/gates/bias")
    ck = reader.get_tensor(scope + "/candidate/kernel"); cb = reader.get_tensor(scope + "/candidate/bias")
    h = ck.shape[1]; i = gk.shape[0] - h
    out[scope + "/W_ir"], out[scope + "/W_iz"] = gk[:i, :h], gk[:i, h:]
    out[scope + "/W_hr"], out[scope + "/W_hz"] = gk[i:, :h], gk[i:, h:]
    out[scope + "/W_in"], out[scope + "/W_hn"] = ck[:i], ck[i:]
    out[scope + "/b_ir"], out[scope + "/b_iz"], out[scope + "/b_in"] = gb[:h], gb[h:], cb
np.savez(sys.argv[2], **out)
"""
