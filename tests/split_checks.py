"""Shared by the family tests: split a file with grutool, then rebuild the modules from the
split file alone and run them through the NumPy GRU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np

import grutool
from grutool.cells import CANONICAL_NAMES, GruCell, GruModule
from grutool.gru import run_module

TOLERANCE = 1e-5


def load_split(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return arrays, json.loads(str(arrays.pop("__grutool__")))


def modules_from_metadata(metadata: dict) -> list[GruModule]:
    cells = {name: GruCell(name=name, **{key: fields[key] for key in (
        "module", "layer", "direction", "layout", "input_size", "hidden_size", "reset_after",
        "dtype", "source_tensors", "activation", "recurrent_activation")})
        for name, fields in metadata["cells"].items()}
    return [GruModule(module["name"], [cells[name] for name in module["cells"]])
            for module in metadata["modules"]]


def split_and_run(source: Path, out: Path, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict, dict]:
    """(module name -> outputs [T, B, D*H], split arrays, metadata), from the split file only."""
    grutool.split(source, out)
    arrays, metadata = load_split(out)
    outputs = {}
    for module in modules_from_metadata(metadata):
        weights = {cell.name: {part: arrays[f"{cell.name}/{part}"] for part in CANONICAL_NAMES
                               if f"{cell.name}/{part}" in arrays} for cell in module.cells}
        outputs[module.name] = run_module(module, weights, x)
    return outputs, arrays, metadata


def max_error(actual: np.ndarray, expected: np.ndarray) -> float:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected)))


def load_generator(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
