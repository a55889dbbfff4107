"""TensorFlow 1 contrib `GRUBlockCell` (`tf.contrib.rnn.GRUBlockCell`, the fused kernel
`GRUBlockCell` op).

Per cell, under its variable scope (default `gru_cell`):

    w_ru [I+H, 2H]   columns: r | u   rows: x (I) then h (H)
    b_ru [2H]        r | u            (initialised to 1.0)
    w_c  [I+H, H]    rows: x then (r * h)
    b_c  [H]

It computes exactly what `GRUCell` computes, reset before the recurrent product, one bias
per gate; only the variable names differ, so the canonical split is GRUCell's.
(`GRUBlockCellV2` uses GRUCell's own names and is recognised as `tf-gru-cell`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cells import GruCell, Recognition
from ..where import Where
from . import tf_gru_cell
from .tf_scopes import place, recognise_scoped

if TYPE_CHECKING:
    from ..cells import RecognitionHints
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("tf-gru-block-cell",)
# GRUCell's role -> this cell's variable name
NAMES = {"gates_kernel": "w_ru", "gates_bias": "b_ru", "candidate_kernel": "w_c",
         "candidate_bias": "b_c"}


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    return recognise_scoped(unclaimed, NAMES, "gates_kernel", "TF GRUBlockCell", _cell)


def _cell(scope: str, tensors: dict[str, str], infos: dict[str, TensorInfo],
          warnings: list[str]) -> GruCell | None:
    w_ru, b_ru, w_c, b_c = (infos[tensors[role]] for role in NAMES)
    if w_ru.ndim != 2 or w_c.ndim != 2 or b_ru.ndim != 1 or b_c.ndim != 1:
        warnings.append(f"{scope}: looks like a TF GRUBlockCell but its tensors have ranks "
                        f"{w_ru.ndim}, {b_ru.ndim}, {w_c.ndim}, {b_c.ndim} (not 2, 1, 2, 1); skipped")
        return None
    hidden = w_c.shape[1]
    rows = w_ru.shape[0]
    if (w_ru.shape != (rows, 2 * hidden) or w_c.shape != (rows, hidden) or rows <= hidden
            or b_ru.shape != (2 * hidden,) or b_c.shape != (hidden,)):
        warnings.append(f"{scope}: looks like a TF GRUBlockCell but w_ru {list(w_ru.shape)}, "
                        f"b_ru {list(b_ru.shape)}, w_c {list(w_c.shape)}, b_c {list(b_c.shape)} "
                        "do not fit one cell; skipped")
        return None
    module, layer, direction = place(scope)
    return GruCell(
        name=scope, module=module, layer=layer, direction=direction, layout=LAYOUTS[0],
        input_size=rows - hidden, hidden_size=hidden, reset_after=False, dtype=w_ru.dtype,
        source_tensors=[tensors[role] for role in NAMES], roles=dict(tensors),
        variant="GRUBlockCell",
    )


def where(cell: GruCell) -> dict[str, Where]:
    # Same roles, same layout as GRUCell.
    return tf_gru_cell.where(cell)
