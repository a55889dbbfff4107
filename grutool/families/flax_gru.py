"""Flax `GRUCell` parameters (from a Flax `.msgpack`, or a flattened tree in .npz, …), names
joined with "/" (grutool's Flax reader) or "." (`flax.traverse_util.flatten_dict(sep=".")`).

flax.linen.GRUCell is six Dense layers under its scope:

    ir, iz, in   kernel [I, H] + bias [H]    applied to x, x @ kernel
    hr, hz       kernel [H, H], no bias      applied to h
    hn           kernel [H, H] + bias [H]

n = tanh(in(x) + r * hn(h)): the reset gate acts after the recurrent product with its bias
inside, so each Dense maps one to one onto a canonical array. A bias that is absent is zero.

flax.nnx.GRUCell fuses them into two Linear layers, gates in the order r | z | n:

    dense_i   kernel [I, 3H] + bias [3H]
    dense_h   kernel [H, 3H], no bias

n = tanh(x W_in + b_in + r * (h W_hn)): reset after, with no recurrent bias at all.
`Bidirectional` (both APIs) puts its two cells under `forward_rnn/…` and `backward_rnn/…`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cells import FORWARD, REVERSE, GruCell, Recognition, natural_key
from ..where import Where, gate_blocks, whole

if TYPE_CHECKING:
    from ..cells import RecognitionHints
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("flax-gru",)
INPUT_DENSES = ("ir", "iz", "in")
HIDDEN_DENSES = ("hr", "hz", "hn")
DIRECTION_SCOPES = {"forward_rnn": FORWARD, "backward_rnn": REVERSE}


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    for sep in ("/", "."):
        anchor = f"{sep}hn{sep}kernel"
        for name in sorted(infos, key=natural_key):
            if not name.endswith(anchor) or name in result.claimed:
                continue
            scope = name[: -len(anchor)]
            roles = {}
            for dense in INPUT_DENSES + HIDDEN_DENSES:
                for part in ("kernel", "bias"):
                    tensor = f"{scope}{sep}{dense}{sep}{part}"
                    if tensor in infos:
                        roles[f"{dense}/{part}"] = tensor
            cell = _cell(scope, sep, roles, infos, result.warnings)
            if cell is not None or len(roles) > 2:
                result.claimed.update(roles.values())
            if cell is not None:
                result.cells.append(cell)
        _recognise_nnx(sep, infos, result)
    return result


def _recognise_nnx(sep: str, infos: dict[str, TensorInfo], result: Recognition) -> None:
    anchor = f"{sep}dense_h{sep}kernel"
    for name in sorted(infos, key=natural_key):
        if not name.endswith(anchor) or name in result.claimed:
            continue
        scope = name[: -len(anchor)]
        roles = {role: f"{scope}{sep}{role.replace('/', sep)}"
                 for role in ("dense_i/kernel", "dense_i/bias", "dense_h/kernel", "dense_h/bias")}
        roles = {role: tensor for role, tensor in roles.items() if tensor in infos}
        if "dense_i/kernel" not in roles or "dense_h/kernel" not in roles:
            continue
        recurrent, inputs = infos[roles["dense_h/kernel"]], infos[roles["dense_i/kernel"]]
        if recurrent.ndim != 2 or inputs.ndim != 2:
            continue
        hidden = recurrent.shape[0]
        expected = {"dense_i/kernel": (inputs.shape[0], 3 * hidden), "dense_i/bias": (3 * hidden,),
                    "dense_h/kernel": (hidden, 3 * hidden), "dense_h/bias": (3 * hidden,)}
        if inputs.ndim != 2 or any(infos[t].shape != expected[r] for r, t in roles.items()):
            continue  # two Linear layers of other sizes: not a GRU cell
        direction, module = _place(scope, sep)
        result.claimed.update(roles.values())
        result.cells.append(GruCell(
            name=scope, module=module, layer=0, direction=direction, layout=LAYOUTS[0],
            input_size=inputs.shape[0], hidden_size=hidden, reset_after=True,
            dtype=inputs.dtype, source_tensors=list(roles.values()), roles=roles,
            variant="flax.nnx.GRUCell",
        ))


def _place(scope: str, sep: str) -> tuple[str, str]:
    """(direction, module): a Bidirectional's two cells form one module."""
    segments = scope.split(sep)
    for index, segment in enumerate(segments):
        if segment in DIRECTION_SCOPES:
            return DIRECTION_SCOPES[segment], sep.join(segments[:index]) or scope
    return FORWARD, scope


def _cell(scope: str, sep: str, roles: dict[str, str], infos: dict[str, TensorInfo],
          warnings: list[str]) -> GruCell | None:
    missing = [d for d in INPUT_DENSES + HIDDEN_DENSES if f"{d}/kernel" not in roles]
    if missing:
        if len(missing) < 4:  # most of a cell is there: worth a word
            warnings.append(f"{scope}: looks like a Flax GRUCell but has no kernel for "
                            f"{', '.join(missing)}; skipped")
        return None
    if infos[roles["hn/kernel"]].ndim != 2 or infos[roles["ir/kernel"]].ndim != 2:
        warnings.append(f"{scope}: looks like a Flax GRUCell but {roles['ir/kernel']} or "
                        f"{roles['hn/kernel']} is not a matrix; skipped")
        return None
    hidden = infos[roles["hn/kernel"]].shape[-1]
    inputs = infos[roles["ir/kernel"]].shape[0]
    for key, tensor in roles.items():
        dense, part = key.split("/")
        rows = inputs if dense in INPUT_DENSES else hidden
        expected = (rows, hidden) if part == "kernel" else (hidden,)
        if infos[tensor].shape != expected:
            warnings.append(f"{scope}: looks like a Flax GRUCell but {tensor} is "
                            f"{list(infos[tensor].shape)}, not {list(expected)}; skipped")
            return None
    direction, module = _place(scope, sep)
    return GruCell(
        name=scope, module=module, layer=0, direction=direction, layout=LAYOUTS[0],
        input_size=inputs, hidden_size=hidden, reset_after=True,
        dtype=infos[roles["ir/kernel"]].dtype, source_tensors=list(roles.values()),
        roles=roles, variant="flax.linen.GRUCell",
    )


def where(cell: GruCell) -> dict[str, Where]:
    inputs, hidden = cell.input_size, cell.hidden_size
    if cell.variant == "flax.nnx.GRUCell":
        # dense_i [I, 3H] and dense_h [H, 3H], columns r | z | n; dense_i's bias only.
        wheres: dict[str, Where] = {}
        for layer, side, rows in (("dense_i", "i", inputs), ("dense_h", "h", hidden)):
            wheres.update(gate_blocks(cell.roles[f"{layer}/kernel"], (rows, 3 * hidden), "rzn",
                                      f"W_{side}"))
            if f"{layer}/bias" in cell.roles:
                wheres.update(gate_blocks(cell.roles[f"{layer}/bias"], (3 * hidden,), "rzn",
                                          f"b_{side}"))
        return wheres
    wheres = {}
    for dense in INPUT_DENSES + HIDDEN_DENSES:
        side, gate = dense[0], dense[1]
        rows = inputs if side == "i" else hidden
        wheres[f"W_{side}{gate}"] = whole(cell.roles[f"{dense}/kernel"], (rows, hidden))
        if f"{dense}/bias" in cell.roles:
            wheres[f"b_{side}{gate}"] = whole(cell.roles[f"{dense}/bias"], (hidden,))
    return wheres
