"""Flax linen `GRUCell` parameters (from a Flax `.msgpack`, or a flattened tree in .npz, …).

The cell is six Dense layers under its scope, names joined with "/" (grutool's Flax reader)
or "." (`flax.traverse_util.flatten_dict(sep=".")`):

    ir, iz, in   kernel [I, H] + bias [H]    applied to x, x @ kernel
    hr, hz       kernel [H, H], no bias      applied to h
    hn           kernel [H, H] + bias [H]

n = tanh(in(x) + r * hn(h)): the reset gate acts after the recurrent product with its bias
inside, so each Dense maps one to one onto a canonical array. A bias that is absent is zero.
`nn.Bidirectional` puts its two cells under `forward_rnn/…` and `backward_rnn/…`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..cells import FORWARD, REVERSE, CanonicalWeights, GruCell, Recognition

if TYPE_CHECKING:
    import numpy as np

    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("flax-gru",)
INPUT_DENSES = ("ir", "iz", "in")
HIDDEN_DENSES = ("hr", "hz", "hn")
DIRECTION_SCOPES = {"forward_rnn": FORWARD, "backward_rnn": REVERSE}


def recognise(source: "TensorSource", unclaimed: list["TensorInfo"]) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    for sep in ("/", "."):
        anchor = f"{sep}hn{sep}kernel"
        for name in sorted(infos):
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
    return result


def _cell(scope: str, sep: str, roles: dict[str, str], infos: dict[str, "TensorInfo"],
          warnings: list[str]) -> GruCell | None:
    missing = [d for d in INPUT_DENSES + HIDDEN_DENSES if f"{d}/kernel" not in roles]
    if missing:
        if len(missing) < 4:  # most of a cell is there: worth a word
            warnings.append(f"{scope}: looks like a Flax GRUCell but has no kernel for "
                            f"{', '.join(missing)}; skipped")
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
    segments = scope.split(sep)
    direction, module = FORWARD, scope
    for index, segment in enumerate(segments):
        if segment in DIRECTION_SCOPES:
            direction = DIRECTION_SCOPES[segment]
            module = sep.join(segments[:index]) or scope
    return GruCell(
        name=scope, module=module, layer=0, direction=direction, layout=LAYOUTS[0],
        input_size=inputs, hidden_size=hidden, reset_after=True,
        dtype=infos[roles["ir/kernel"]].dtype, source_tensors=list(roles.values()),
        roles=roles, variant="flax.linen.GRUCell",
    )


def to_canonical(cell: GruCell, read: Callable[[str], "np.ndarray"]) -> CanonicalWeights:
    weights: CanonicalWeights = {}
    for dense in INPUT_DENSES + HIDDEN_DENSES:
        side, gate = dense[0], dense[1]
        weights[f"W_{side}{gate}"] = read(cell.roles[f"{dense}/kernel"])
        if f"{dense}/bias" in cell.roles:
            weights[f"b_{side}{gate}"] = read(cell.roles[f"{dense}/bias"])
    return weights
