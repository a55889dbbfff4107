"""grutool's own split files: `<cell>/W_ir` … `<cell>/b_hn`, with the `__grutool__` metadata.

Reading them back lets `verify`, `diff` and `convert` take a split file like any checkpoint.
The metadata says what the arrays alone cannot: reset placement, layout of origin, module,
layer and direction. A file of canonical arrays without it is read as single reset-before
cells, and says so.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from ..cells import CANONICAL_NAMES, FORWARD, CanonicalWeights, GruCell, Recognition

if TYPE_CHECKING:
    import numpy as np

    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("grutool-canonical",)
METADATA_KEY = "__grutool__"


def read_metadata(source: "TensorSource") -> dict[str, Any]:
    text = source.text_metadata.get(METADATA_KEY)
    if text is None and METADATA_KEY in source.infos:
        try:
            text = str(source.read(METADATA_KEY))
        except Exception:  # noqa: BLE001 - unreadable metadata is reported as absent
            text = None
    if not text:
        return {}
    try:
        metadata = json.loads(text)
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def recognise(source: "TensorSource", unclaimed: list["TensorInfo"]) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    prefixes = sorted(name[: -len("/W_ir")] for name in infos if name.endswith("/W_ir"))
    if not prefixes:
        return result
    metadata = read_metadata(source)
    described = metadata.get("cells", {}) if isinstance(metadata.get("cells"), dict) else {}
    if METADATA_KEY in infos:
        result.claimed.add(METADATA_KEY)
    for prefix in prefixes:
        tensors = {name: f"{prefix}/{name}" for name in CANONICAL_NAMES if f"{prefix}/{name}" in infos}
        missing = [name for name in CANONICAL_NAMES[:6] if name not in tensors]
        result.claimed.update(tensors.values())
        if missing:
            result.warnings.append(f"{prefix}: canonical arrays without {', '.join(missing)}; skipped")
            continue
        w_ir, w_hn = infos[tensors["W_ir"]], infos[tensors["W_hn"]]
        if w_ir.ndim != 2 or w_hn.ndim != 2 or w_hn.shape[0] != w_hn.shape[1] \
                or w_ir.shape[1] != w_hn.shape[0]:
            result.warnings.append(f"{prefix}: W_ir {list(w_ir.shape)} and W_hn "
                                   f"{list(w_hn.shape)} do not fit together; skipped")
            continue
        facts = described.get(prefix, {}) if isinstance(described.get(prefix), dict) else {}
        if not facts:
            result.warnings.append(f"{prefix}: canonical arrays without grutool metadata; "
                                   "assumed a lone reset-before cell")
        result.cells.append(GruCell(
            name=prefix, module=str(facts.get("module", prefix)), layer=int(facts.get("layer", 0)),
            direction=str(facts.get("direction", FORWARD)), layout=LAYOUTS[0],
            input_size=w_ir.shape[0], hidden_size=w_hn.shape[0],
            reset_after=bool(facts.get("reset_after", False)), dtype=w_ir.dtype,
            source_tensors=list(tensors.values()), roles=tensors,
            variant=f"split from {facts['layout']}" if facts.get("layout") else None,
            activation=str(facts.get("activation", "tanh")),
            recurrent_activation=str(facts.get("recurrent_activation", "sigmoid")),
        ))
    return result


def to_canonical(cell: GruCell, read: Callable[[str], "np.ndarray"]) -> CanonicalWeights:
    return {name: read(tensor) for name, tensor in cell.roles.items()}
