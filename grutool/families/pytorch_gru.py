"""PyTorch `nn.GRU` and `nn.GRUCell` state dicts (from .pt, .safetensors, .npz, …).

nn.GRU, per layer k and direction (`_reverse` for the backward one), under the module's prefix:

    weight_ih_l{k}[_reverse]  [3H, I_k]   rows: r | z | n, applied as W @ x
    weight_hh_l{k}[_reverse]  [3H, H]
    bias_ih_l{k}[_reverse]    [3H]        absent with bias=False
    bias_hh_l{k}[_reverse]    [3H]

nn.GRUCell: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`, same shapes. Hand-written GRUs
and renamed state dicts use the same vocabulary with other spellings, read here as the same
layout and shown as a naming variant: `w_ih`/`w_hh`/`b_ih`/`b_hh` for the four, `_` or `/`
instead of `.` after the prefix (the g2p-en package's `enc_w_ih`, `enc_b_hh`, ...), with or
without `_l{k}`. The shapes must still say W @ x ([3H, I], [3H, H]). Both compute
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): the reset gate acts after the recurrent
product, and b_hn stays inside it. LSTM (4H rows) and plain RNN (H rows) share these names
and are told apart by the row count.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..cells import FORWARD, REVERSE, GruCell, Recognition
from ..where import Where, gate_blocks

if TYPE_CHECKING:
    from ..cells import RecognitionHints
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("pytorch-gru", "pytorch-gru-cell")
GRU_INPUT_WEIGHT = re.compile(r"^(?:(?P<prefix>.+)\.)?weight_ih_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
CELL_INPUT_WEIGHT = re.compile(r"^(?:(?P<prefix>.+)\.)?weight_ih$")
# Names for the cells of a state dict saved from a bare nn.GRU / nn.GRUCell (no prefix).
UNPREFIXED_MODULE = "gru"
UNPREFIXED_CELL = "gru_cell"
ROLES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
ALIAS_INPUT_WEIGHT = re.compile(r"^(?:(?P<prefix>.*?)(?P<sep>[._/]))?(?P<kind>weight|w)_ih"
                                r"(?P<suffix>_l(?P<layer>\d+)(?P<reverse>_reverse)?)?$")
# Role -> the alias spelling of its name, per kind of spelling.
ALIAS_ROLES = {"weight": {"weight_ih": "weight_ih", "weight_hh": "weight_hh",
                          "bias_ih": "bias_ih", "bias_hh": "bias_hh"},
               "w": {"weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}}


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    for name in infos:  # file order: a state dict lists modules as the model registers them
        match = GRU_INPUT_WEIGHT.match(name)
        if match:
            prefix, layer = match.group("prefix"), int(match.group("layer"))
            suffix = f"_l{layer}{match.group('reverse') or ''}"
            base = f"{prefix}." if prefix else ""
            tensors = {role: f"{base}{role}{suffix}" for role in ROLES}
            cell_name = f"{base}l{layer}{match.group('reverse') or ''}"
            module = prefix or UNPREFIXED_MODULE
            direction = REVERSE if match.group("reverse") else FORWARD
            _add_cell(result, infos, tensors, cell_name, module, layer, direction, LAYOUTS[0],
                      "nn.GRU")
            # nn.GRU concatenates its directions, and its key names state the structure.
            result.merges[module] = "concat"
            continue
        match = CELL_INPUT_WEIGHT.match(name)
        if match:
            prefix = match.group("prefix")
            base = f"{prefix}." if prefix else ""
            tensors = {role: f"{base}{role}" for role in ROLES}
            cell_name = prefix or UNPREFIXED_CELL
            _add_cell(result, infos, tensors, cell_name, cell_name, 0, FORWARD, LAYOUTS[1],
                      "nn.GRUCell")
    for name in infos:  # file order
        if name not in result.claimed and not GRU_INPUT_WEIGHT.match(name) \
                and not CELL_INPUT_WEIGHT.match(name):
            _add_alias_cell(result, infos, name)
    return result


def _add_alias_cell(result: Recognition, infos: dict[str, TensorInfo], name: str) -> None:
    match = ALIAS_INPUT_WEIGHT.match(name)
    if not match:
        return
    prefix, sep = match.group("prefix"), match.group("sep") or ""
    base = f"{prefix}{sep}" if prefix is not None else ""
    suffix = match.group("suffix") or ""
    spelling = ALIAS_ROLES[match.group("kind")]
    tensors = {role: f"{base}{spelling[role]}{suffix}" for role in ROLES}
    if any(tensor in result.claimed for tensor in tensors.values()):
        return
    if match.group("layer") is not None:
        reverse = match.group("reverse") or ""
        cell_name = f"{base}l{match.group('layer')}{reverse}"
        module, layer = prefix or UNPREFIXED_MODULE, int(match.group("layer"))
        direction, layout, what = (REVERSE if reverse else FORWARD), LAYOUTS[0], "nn.GRU"
    else:
        cell_name = prefix or UNPREFIXED_CELL
        module, layer, direction, layout, what = cell_name, 0, FORWARD, LAYOUTS[1], "nn.GRUCell"
    canonical = f"{prefix + '.' if prefix else ''}weight_ih{suffix}"
    _add_cell(result, infos, tensors, cell_name, module, layer, direction, layout,
              f"{what}, alias names ({name} for {canonical})")


def _add_cell(result: Recognition, infos: dict[str, TensorInfo], tensors: dict[str, str],
              cell_name: str, module: str, layer: int, direction: str, layout: str,
              variant: str) -> None:
    weight_ih, weight_hh = infos[tensors["weight_ih"]], infos.get(tensors["weight_hh"])
    if weight_hh is None or weight_ih.ndim != 2 or weight_hh.ndim != 2:
        return  # not a recurrent layer's weights at all
    hidden = weight_hh.shape[1]
    if weight_hh.shape[0] != 3 * hidden or weight_ih.shape[0] != 3 * hidden:
        return  # LSTM (4H rows) or plain RNN (H rows): not ours, leave for others
    present = {role: tensor for role, tensor in tensors.items() if tensor in infos}
    for role in ("bias_ih", "bias_hh"):
        if role in present and infos[present[role]].shape != (3 * hidden,):
            result.warnings.append(f"{cell_name}: looks like a PyTorch {variant} but "
                                   f"{present[role]} is {list(infos[present[role]].shape)}, "
                                   f"not [{3 * hidden}]; skipped")
            result.claimed.update(present.values())
            return
    result.claimed.update(present.values())
    result.cells.append(GruCell(
        name=cell_name, module=module, layer=layer, direction=direction, layout=layout,
        input_size=weight_ih.shape[1], hidden_size=hidden, reset_after=True,
        dtype=weight_ih.dtype, source_tensors=[present[r] for r in ROLES if r in present],
        roles=present, variant=variant, extra={"structure_from_file": layout == LAYOUTS[0]},
    ))


def where(cell: GruCell) -> dict[str, Where]:
    """Rows r | z | n, stored W @ x: each block transposed back to x @ W."""
    inputs, hidden = cell.input_size, cell.hidden_size
    wheres = {**gate_blocks(cell.roles["weight_ih"], (3 * hidden, inputs), "rzn", "W_i",
                            stored_w_at_x=True),
              **gate_blocks(cell.roles["weight_hh"], (3 * hidden, hidden), "rzn", "W_h",
                            stored_w_at_x=True)}
    for role, prefix in (("bias_ih", "b_i"), ("bias_hh", "b_h")):
        if role in cell.roles:
            wheres.update(gate_blocks(cell.roles[role], (3 * hidden,), "rzn", prefix))
    return wheres
