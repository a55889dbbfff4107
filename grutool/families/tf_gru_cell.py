"""TensorFlow 1 `GRUCell` (`tf.nn.rnn_cell.GRUCell`, `tf.compat.v1.nn.rnn_cell.GRUCell`).

Per cell, under its variable scope, in one of three naming eras:

    gates kernel     [I+H, 2H]   columns: r | u   rows: x (I) then h (H)
    gates bias       [2H]        r | u            (initialised to 1.0)
    candidate kernel [I+H, H]    rows: x then (r * h)
    candidate bias   [H]

h' = u * h + (1 - u) * tanh(x @ W_in + (r * h) @ W_hn + b_in): the reset gate acts before the
recurrent product, and each gate has a single bias (stored as b_i*).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ..cells import GruCell, Recognition
from ..where import Where, whole
from .tf_scopes import candidate_where, gates_where, place, recognise_scoped

if TYPE_CHECKING:
    from ..cells import RecognitionHints
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("tf-gru-cell",)

# (variant, gates kernel, gates bias, candidate kernel, candidate bias), newest first.
NAMING_ERAS = (
    ("TF 1.2+ names", "gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"),
    ("TF 1.0 names", "gates/weights", "gates/biases", "candidate/weights", "candidate/biases"),
    ("TF 0.x names", "Gates/Linear/Matrix", "Gates/Linear/Bias", "Candidate/Linear/Matrix",
     "Candidate/Linear/Bias"),
)
ROLES = ("gates_kernel", "gates_bias", "candidate_kernel", "candidate_bias")


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    result = Recognition()
    for variant, *suffixes in NAMING_ERAS:
        found = recognise_scoped(unclaimed, dict(zip(ROLES, suffixes, strict=True)), "gates_kernel",
                                 "TF GRUCell", partial(_cell_from_shapes, variant=variant))
        result.cells += found.cells
        result.warnings += found.warnings
        result.claimed |= found.claimed
    return result


def _cell_from_shapes(scope: str, tensors: dict[str, str], infos: dict[str, TensorInfo],
                      warnings: list[str], variant: str) -> GruCell | None:
    gates_kernel, gates_bias, candidate_kernel, candidate_bias = (infos[tensors[r]] for r in ROLES)
    problem = _shape_problem(gates_kernel, gates_bias, candidate_kernel, candidate_bias)
    if problem:
        warnings.append(f"{scope}: looks like a TF GRUCell but {problem}; skipped")
        return None
    hidden = candidate_kernel.shape[1]
    module, layer, direction = place(scope)
    return GruCell(
        name=scope, module=module, layer=layer, direction=direction, layout=LAYOUTS[0],
        input_size=gates_kernel.shape[0] - hidden, hidden_size=hidden, reset_after=False,
        dtype=gates_kernel.dtype, source_tensors=[tensors[r] for r in ROLES],
        roles=dict(tensors), variant=variant,
    )


def _shape_problem(gk: TensorInfo, gb: TensorInfo, ck: TensorInfo, cb: TensorInfo) -> str | None:
    if gk.ndim != 2 or ck.ndim != 2 or gb.ndim != 1 or cb.ndim != 1:
        return (f"{gk.name} {list(gk.shape)}, {ck.name} {list(ck.shape)} are not matrices "
                f"or {gb.name} {list(gb.shape)}, {cb.name} {list(cb.shape)} are not vectors")
    hidden = ck.shape[1]
    if gk.shape[1] != 2 * hidden:
        return (f"{gk.name} is {list(gk.shape)}: its width {gk.shape[1]} is not 2 x {hidden} "
                f"units (from {ck.name} {list(ck.shape)})")
    if gk.shape[0] != ck.shape[0]:
        return f"{gk.name} {list(gk.shape)} and {ck.name} {list(ck.shape)} differ in rows"
    if gk.shape[0] <= hidden:
        return f"{gk.name} {list(gk.shape)} has no rows left for the input after {hidden} units"
    if gb.shape != (2 * hidden,) or cb.shape != (hidden,):
        return (f"biases {gb.name} {list(gb.shape)} and {cb.name} {list(cb.shape)} do not fit "
                f"{hidden} units")
    return None


def where(cell: GruCell) -> dict[str, Where]:
    """Rows x then h, gates columns r | u; the candidate kernel's rows x then r * h."""
    return {**gates_where(cell), **candidate_where(cell, cell.roles["candidate_kernel"]),
            "b_in": whole(cell.roles["candidate_bias"], (cell.hidden_size,))}
