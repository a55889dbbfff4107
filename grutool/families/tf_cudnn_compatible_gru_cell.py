"""TensorFlow 1 contrib `CudnnCompatibleGRUCell` (`tf.contrib.cudnn_rnn`), the CPU twin of
`CudnnGRU`, and the names `CudnnGRU`'s saveable writes its canonical weights under.

Per cell, under its variable scope (default `cudnn_compatible_gru_cell`):

    gates/kernel                         [I+H, 2H]  columns: r | u   rows: x then h
    gates/bias                           [2H]       r | u            (initialised to 1.0)
    candidate/input_projection/kernel    [I, H]
    candidate/input_projection/bias      [H]
    candidate/hidden_projection/kernel   [H, H]
    candidate/hidden_projection/bias     [H]

From TF's source: candidate = tanh(x @ Wi + bi + r * (h @ Wh + bh)), h' = (1-u) * candidate
+ u * h. The reset gate acts after the recurrent product, with the hidden bias inside it.
The gates' shared bias is stored as b_ir, b_iz. This family runs before `tf_gru_cell`, which
would otherwise see `gates/kernel` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cells import GruCell, Recognition
from ..where import Where, whole
from .tf_scopes import gates_where, place, recognise_scoped

if TYPE_CHECKING:
    from ..cells import RecognitionHints
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("tf-cudnn-compatible-gru-cell",)
SUFFIXES = {
    "gates_kernel": "gates/kernel",
    "gates_bias": "gates/bias",
    "input_kernel": "candidate/input_projection/kernel",
    "input_bias": "candidate/input_projection/bias",
    "hidden_kernel": "candidate/hidden_projection/kernel",
    "hidden_bias": "candidate/hidden_projection/bias",
}


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    return recognise_scoped(unclaimed, SUFFIXES, "hidden_kernel", "TF CudnnCompatibleGRUCell",
                            _cell)


def _cell(scope: str, tensors: dict[str, str], infos: dict[str, TensorInfo],
          warnings: list[str]) -> GruCell | None:
    shapes = {role: infos[name].shape for role, name in tensors.items()}
    hidden_kernel = shapes["hidden_kernel"]
    if len(hidden_kernel) != 2 or hidden_kernel[0] != hidden_kernel[1]:
        warnings.append(f"{scope}: looks like a TF CudnnCompatibleGRUCell but "
                        f"{tensors['hidden_kernel']} is {list(hidden_kernel)}, not square; skipped")
        return None
    hidden = hidden_kernel[0]
    input_kernel = shapes["input_kernel"]
    inputs = input_kernel[0] if len(input_kernel) == 2 else -1
    expected = {
        "gates_kernel": (inputs + hidden, 2 * hidden), "gates_bias": (2 * hidden,),
        "input_kernel": (inputs, hidden), "input_bias": (hidden,),
        "hidden_kernel": (hidden, hidden), "hidden_bias": (hidden,),
    }
    wrong = [f"{tensors[role]} {list(shapes[role])}" for role in SUFFIXES
             if shapes[role] != expected[role]]
    if wrong or inputs <= 0:
        warnings.append(f"{scope}: looks like a TF CudnnCompatibleGRUCell but "
                        f"{', '.join(wrong) or 'its input size'} does not fit {hidden} units; skipped")
        return None
    module, layer, direction = place(scope)
    return GruCell(
        name=scope, module=module, layer=layer, direction=direction, layout=LAYOUTS[0],
        input_size=inputs, hidden_size=hidden, reset_after=True,
        dtype=infos[tensors["gates_kernel"]].dtype,
        source_tensors=[tensors[role] for role in SUFFIXES], roles=dict(tensors),
        variant="CudnnCompatibleGRUCell",
    )


def where(cell: GruCell) -> dict[str, Where]:
    hidden, inputs = cell.hidden_size, cell.input_size
    return {**gates_where(cell),
            "W_in": whole(cell.roles["input_kernel"], (inputs, hidden)),
            "W_hn": whole(cell.roles["hidden_kernel"], (hidden, hidden)),
            "b_in": whole(cell.roles["input_bias"], (hidden,)),
            "b_hn": whole(cell.roles["hidden_bias"], (hidden,))}
