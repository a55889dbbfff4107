"""PyTorch `torch.save` files (`.pt`, `.pth`, `.bin`): the zip format (`<archive>/data.pkl`)
and the legacy pickle format, read through `torch.load(..., weights_only=True)`; a zip at a
URL through `torch_pickle` instead (torch.load would fetch every storage of the file).

A `torch.save` file is a pickle. grutool never runs the general unpickler on it: torch's
weights-only unpickler accepts tensors, containers and plain values and refuses any other
object, so a file that holds code is reported, not executed. The file may hold a state dict,
or a training checkpoint with the state dict under a common key; nested dicts are flattened
with "." and values that are not tensors are ignored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
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
        self._tensors: dict[str, Any] = {}
        self._records: dict[str, Any] = {}  # at a URL: name -> TensorRecord (torch_pickle)
        if is_zip and not isinstance(path, Path):
            self._list_records()
            return
        loaded = self._load(is_zip)
        import torch

        try:
            _flatten(_state_dict_of(loaded), self._tensors, lambda v: isinstance(v, torch.Tensor))
        except ValueError as exc:
            raise CorruptFileError(str(exc), self.path) from exc
        for name, tensor in self._tensors.items():
            self.infos[name] = TensorInfo(name, tuple(int(n) for n in tensor.shape),
                                          str(tensor.dtype).removeprefix("torch."))

    def _list_records(self) -> None:
        """At a URL: the tensors as records of the archive (torch_pickle), without torch and
        without fetching a storage; each is fetched by `_read` when asked for."""
        from .torch_pickle import RefusedPickle, TensorRecord, load_records

        try:
            with open_zip(self.path) as archive:
                members = {info.filename: info for info in archive.infolist()}
                pickle_name = next(n for n in members if n == "data.pkl" or n.endswith("/data.pkl"))
                byteorder = members.get(pickle_name[: -len("data.pkl")] + "byteorder")
                big_endian = byteorder is not None and \
                    archive.read(byteorder).strip() not in (b"", b"little")
                pickle_bytes = archive.read(members[pickle_name])
        except (*DAMAGED_ZIP_ERRORS, OSError) as exc:
            raise CorruptFileError(f"not a valid PyTorch (zip) archive: {first_line(exc)}",
                                   self.path) from exc
        self._record_prefix = pickle_name[: -len("data.pkl")] + "data/"
        self._members = members
        if big_endian:
            raise InputError("the file stores its tensors big-endian; grutool reads those "
                             "from local files only", self.path, hint="download it")
        try:
            loaded = load_records(pickle_bytes)
        except RefusedPickle as exc:
            raise InputError(
                f"the file holds Python code or objects besides tensors ({exc}), which "
                "grutool will not unpickle; save the model's state_dict() instead",
                self.path) from exc
        except Exception as exc:  # noqa: BLE001 - a damaged pickle fails in many ways
            raise CorruptFileError(f"{pickle_name} is not a readable state dict: "
                                   f"{first_line(exc)}", self.path) from exc
        try:
            _flatten(_state_dict_of(loaded), self._records, lambda v: isinstance(v, TensorRecord))
        except ValueError as exc:
            raise CorruptFileError(str(exc), self.path) from exc
        for name, record in self._records.items():
            member = members.get(self._record_prefix + record.storage.key)
            first, end = record.element_span()
            itemsize = 2 if record.dtype == "bfloat16" else np.dtype(record.dtype).itemsize
            if member is None or end * itemsize > member.file_size or end > record.storage.numel:
                raise CorruptFileError(f"tensor {name!r} lies outside its storage record", self.path)
            self.infos[name] = TensorInfo(name, record.shape, record.dtype)

    def _read_record(self, name: str) -> np.ndarray:
        """One range request for the elements the tensor reads, its record's CRC-32 checked
        where the tensor covers the whole record."""
        import zipfile
        import zlib

        from ..remote import read_range_into
        from .torch_pickle import numpy_dtype
        from .zip_member import _data_offset

        record = self._records[name]
        member = self._members[self._record_prefix + record.storage.key]
        if member.compress_type != zipfile.ZIP_STORED:
            raise CorruptFileError(f"the storage of {name!r} is compressed, which torch.save "
                                   "never does", self.path)
        dtype = numpy_dtype(record.dtype)
        first, end = record.element_span()
        buffer = np.empty(end - first, dtype=dtype)
        with self.path.open("rb") as handle:
            start = _data_offset(handle, member, self.path) + first * dtype.itemsize
            view = buffer.view(np.uint8).reshape(-1).data
            if read_range_into(handle, view, start) != len(view):
                raise CorruptFileError(f"the storage of {name!r} is truncated", self.path)
        if first == 0 and len(view) == member.file_size and zlib.crc32(view) != member.CRC:
            raise CorruptFileError(f"the storage of {name!r} fails its CRC-32 check; the archive "
                                   "is damaged", self.path)
        strides = tuple(s * dtype.itemsize for s in record.stride)
        array = np.lib.stride_tricks.as_strided(buffer, record.shape, strides, writeable=False)
        return np.ascontiguousarray(array).astype(dtype.newbyteorder("="), copy=False)

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
        if name in self._records:
            return self._read_record(name)
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
        self._records.clear()


def _state_dict_of(loaded: Any) -> Any:
    """The model's weights inside what torch.load returned."""
    if isinstance(loaded, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(loaded.get(key), Mapping):
                return loaded[key]
    return loaded


def _flatten(root: Any, out: dict[str, Any], is_tensor: Callable[[Any], bool]) -> None:
    """Every tensor under `root`, named by its keys joined with ".". Walked with an explicit
    stack: a dict met again on its own path (`d["self"] = d`, which torch.save keeps), dicts
    nested past MAX_NESTING or more than MAX_ENTRIES entries are a ValueError, never a
    RecursionError."""
    stack: list[tuple[Any, str, tuple[int, ...]]] = [(root, "", ())]
    visited = 0
    while stack:
        value, prefix, path_ids = stack.pop()
        visited += 1
        if visited > MAX_ENTRIES:
            raise ValueError(f"the file names more than {MAX_ENTRIES} entries")
        if is_tensor(value):
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
