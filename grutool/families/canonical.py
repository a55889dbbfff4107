"""grutool's own split files: `<cell>/W_ir` … `<cell>/b_hn`, with the `__grutool__` metadata.

Reading them back lets `verify`, `diff` and `convert` take a split file like any checkpoint.
The metadata says what the arrays alone cannot: reset placement, layout of origin, module,
layer and direction. A file of canonical arrays without it is read as single reset-before
cells, and says so.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..activations import UNKNOWN, known
from ..cells import CANONICAL_NAMES, FORWARD, GruCell, Recognition, natural_key
from ..tensors import METADATA_KEY
from ..where import Where, whole

if TYPE_CHECKING:

    from ..cells import RecognitionHints
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("grutool-canonical",)


def read_metadata(source: TensorSource) -> dict[str, Any]:
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


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    prefixes = sorted((name[: -len("/W_ir")] for name in infos if name.endswith("/W_ir")),
                      key=natural_key)
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
        problem = _shape_problem({name: infos[tensor].shape for name, tensor in tensors.items()})
        if problem:
            result.warnings.append(f"{prefix}: {problem}; skipped")
            continue
        w_ir, w_hn = infos[tensors["W_ir"]], infos[tensors["W_hn"]]
        facts = described.get(prefix, {}) if isinstance(described.get(prefix), dict) else {}
        if not facts:
            result.warnings.append(f"{prefix}: canonical arrays without grutool metadata; "
                                   "assumed a lone reset-before cell")
        facts = valid_facts(prefix, facts, result.warnings)
        result.cells.append(GruCell(
            name=prefix, module=str(facts.get("module", prefix)), layer=facts.get("layer", 0),
            direction=str(facts.get("direction", FORWARD)), layout=LAYOUTS[0],
            input_size=w_ir.shape[0], hidden_size=w_hn.shape[0],
            reset_after=bool(facts.get("reset_after", False)), dtype=w_ir.dtype,
            source_tensors=list(tensors.values()), roles=tensors,
            variant=f"split from {facts['layout']}" if facts.get("layout") else None,
            activation=str(facts.get("activation", "tanh")),
            recurrent_activation=str(facts.get("recurrent_activation", "sigmoid")),
        ))
    return result


def where(cell: GruCell) -> dict[str, Where]:
    """Each array is its own tensor, as it is."""
    inputs, hidden = cell.input_size, cell.hidden_size
    return {name: whole(tensor, (inputs if name.startswith("W_i") else hidden, hidden)
                        if name.startswith("W") else (hidden,))
            for name, tensor in cell.roles.items()}


def _shape_problem(shapes: dict[str, tuple[int, ...]]) -> str | None:
    """Why the twelve arrays cannot be one cell: each W_i* is [I, H], W_h* [H, H], b_* [H]."""
    inputs, hidden = (shapes["W_ir"] + (0, 0))[:2]
    for name, shape in shapes.items():
        expected = ((inputs, hidden) if name.startswith("W_i") else
                    (hidden, hidden) if name.startswith("W_h") else (hidden,))
        if shape != expected or 0 in expected:
            return f"{name} is {list(shape)}, not {list(expected)} as W_ir {list(shapes['W_ir'])} implies"
    return None


def valid_facts(prefix: str, facts: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The metadata's facts about one cell, with values of the wrong kind dropped (and said)."""
    checks = {"module": lambda v: isinstance(v, str),
              "target_name": lambda v: isinstance(v, str),
              "outputs_time_reversed": lambda v: isinstance(v, bool),
              "layer": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "direction": lambda v: v in ("forward", "reverse"),
              "reset_after": lambda v: isinstance(v, bool),
              "layout": lambda v: isinstance(v, str),
              "activation": lambda v: isinstance(v, str) and (known(v) or v == UNKNOWN),
              "recurrent_activation": lambda v: isinstance(v, str) and (known(v) or v == UNKNOWN)}
    valid = {}
    for key, value in facts.items():
        if key in checks and not checks[key](value):
            warnings.append(f"{prefix}: ignored the metadata's {key} {value!r}")
        else:
            valid[key] = value
    return valid
