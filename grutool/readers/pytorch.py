"""PyTorch `torch.save` files (`.pt`, `.pth`, `.bin`): the zip format (`<archive>/data.pkl`)
and the legacy pickle format, read only through `torch.load(..., weights_only=True)`.

A `torch.save` file is a pickle. grutool never runs the general unpickler on it: torch's
weights-only unpickler accepts tensors, containers and plain values and refuses any other
object, so a file that holds code is reported, not executed. The file may hold a state dict,
or a training checkpoint with the state dict under a common key; nested dicts are flattened
with "." and values that are not tensors are ignored.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptFileError, InputError, MissingExtraError, first_line
from ..tensors import TensorInfo, TensorSource
from .torch_records import check_storage_records
from .zip_safety import DAMAGED_ZIP_ERRORS, check_zip_members, open_zip

FORMAT = "pytorch"
ZIP_MAGIC = b"PK\x03\x04"
# The legacy format opens with a pickled magic number (protocol 2, LONG1 of 10 bytes).
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
# Where training scripts usually put the model's weights inside a checkpoint dict.
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")
# A state dict nests a module path deep (a few levels); deeper is a crafted file.
MAX_NESTING = 64
# torch.save keeps shared references, so 64 dicts each holding the next twice would name 2^64
# paths; a real checkpoint has far fewer entries than this.
MAX_ENTRIES = 1_000_000


def matches(path: Path, head: bytes) -> bool:
    if head.startswith(LEGACY_MAGIC):
        return True
    if head.startswith(ZIP_MAGIC):
        return _is_torch_zip(path)
    return path.suffix.lower() in (".pt", ".pth") and path.is_file()


def _is_torch_zip(path: Path) -> bool:
    try:
        with open_zip(path) as archive:
            names = archive.namelist()
    except (*DAMAGED_ZIP_ERRORS, OSError):
        return False
    return any(name == "data.pkl" or name.endswith("/data.pkl") for name in names)


class PytorchSource(TensorSource):
    def __init__(self, path: Path):
        super().__init__(path=path, format=FORMAT, files=[path])
        is_zip = self._check_container()
        loaded = self._load(is_zip)
        self._tensors: dict[str, Any] = {}
        try:
            _flatten(_state_dict_of(loaded), self._tensors)
        except ValueError as exc:
            raise CorruptFileError(str(exc), self.path) from exc
        for name, tensor in self._tensors.items():
            self.infos[name] = TensorInfo(name, tuple(int(n) for n in tensor.shape),
                                          str(tensor.dtype).removeprefix("torch."))

    def _check_container(self) -> bool:
        try:
            with self.path.open("rb") as handle:
                head = handle.read(len(LEGACY_MAGIC))
        except OSError as exc:
            raise InputError(f"cannot read the file: {exc.strerror or exc}", self.path) from exc
        if not head.startswith(ZIP_MAGIC):
            return False
        try:
            with open_zip(self.path) as archive:
                names = [member.filename for member in check_zip_members(archive, self.path)]
                check_storage_records(archive, self.path)
        except DAMAGED_ZIP_ERRORS as exc:
            raise CorruptFileError(f"not a valid PyTorch (zip) archive: {exc}", self.path) from exc
        if any(name.endswith("constants.pkl") or "/code/" in name for name in names):
            raise InputError("this is a TorchScript archive (it holds code); grutool reads "
                             "state dicts saved with torch.save(model.state_dict())", self.path)
        if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            raise CorruptFileError("a zip archive without data.pkl is not a torch.save file",
                                   self.path)
        return True

    def _load(self, is_zip: bool) -> Any:
        try:
            import torch
        except ImportError as exc:
            raise MissingExtraError("reading PyTorch files needs torch", "torch", self.path) from exc
        try:
            # mmap keeps big checkpoints on disk until a tensor is read; only the zip format has it.
            with warnings.catch_warnings():
                # torch warns (on stderr) about odd pickle protocols in damaged files; the
                # error, if any, is reported below as one line.
                warnings.simplefilter("ignore")
                if not isinstance(self.path, Path):
                    # At a URL: through range requests; torch reads every storage of the file.
                    with self.path.open("rb") as handle:
                        return torch.load(handle, map_location="cpu", weights_only=True)
                return torch.load(self.path, map_location="cpu", weights_only=True, mmap=is_zip)
        except Exception as exc:  # torch raises many kinds; each becomes a one-line error
            text = str(exc)
            if "Weights only load failed" in text:
                raise InputError(
                    "the file holds Python code or objects besides tensors, which grutool "
                    "will not unpickle; save the model's state_dict() instead",
                    self.path) from exc
            raise CorruptFileError(f"torch.load cannot read it: {first_line(exc)}",
                                   self.path) from exc

    def _read(self, name: str) -> np.ndarray:
        import torch

        tensor = self._tensors[name].detach().cpu()
        if tensor.dtype == torch.bfloat16:
            import ml_dtypes

            return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
        try:
            return tensor.numpy().copy()
        except (TypeError, RuntimeError) as exc:
            raise InputError(f"tensor {name!r} of dtype {tensor.dtype} has no NumPy equivalent",
                             self.path) from exc

    def close(self) -> None:
        # The tensors may map the file (mmap=True); dropping them releases it.
        self._tensors.clear()


def _state_dict_of(loaded: Any) -> Any:
    """The model's weights inside what torch.load returned."""
    if isinstance(loaded, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(loaded.get(key), Mapping):
                return loaded[key]
    return loaded


def _flatten(root: Any, out: dict[str, Any]) -> None:
    """Every tensor under `root`, named by its keys joined with ".". Walked with an explicit
    stack: a dict met again on its own path (`d["self"] = d`, which torch.save keeps), dicts
    nested past MAX_NESTING or more than MAX_ENTRIES entries are a ValueError, never a
    RecursionError."""
    import torch

    stack: list[tuple[Any, str, tuple[int, ...]]] = [(root, "", ())]
    visited = 0
    while stack:
        value, prefix, path_ids = stack.pop()
        visited += 1
        if visited > MAX_ENTRIES:
            raise ValueError(f"the file names more than {MAX_ENTRIES} entries")
        if isinstance(value, torch.Tensor):
            out[prefix or "tensor"] = value
        elif isinstance(value, Mapping):
            if id(value) in path_ids:
                raise ValueError(f"the dict at {prefix!r} contains itself")
            if len(path_ids) >= MAX_NESTING:
                raise ValueError(f"dicts nest more than {MAX_NESTING} deep at {prefix[:200]!r}")
            inner = path_ids + (id(value),)
            children = [(item, f"{prefix}.{key}" if prefix else str(key), inner)
                        for key, item in value.items()]
            stack.extend(reversed(children))  # popped in the file's order


def open(path: Path) -> PytorchSource:  # noqa: A001 - the reader protocol's name
    return PytorchSource(path)
