"""TensorFlow checkpoints: a prefix, its `.index` or `.data-*` files, a checkpoint directory
(its `checkpoint` state file, else the newest index) or a SavedModel directory.

Read by grutool's own tensor-bundle reader (`tf_bundle`) where it can, by TensorFlow where
asked (`--reader tensorflow`) or where the built-in reader cannot handle the file.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, InputError, MissingExtraError, UsageError, first_line
from ..remote import read_range_into
from ..tensors import TensorInfo, TensorSource

FORMAT = "tf-checkpoint"
READERS = ("auto", "builtin", "tensorflow")
_DATA_SHARD = re.compile(r"^(?P<prefix>.+)\.data-\d{5}-of-\d{5}$")
_STATE_LINE = re.compile(r'^\s*model_checkpoint_path:\s*"(?P<path>(?:[^"\\]|\\.)*)"\s*$', re.M)
TABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # 0xdb4775248b80fb57, little-endian


def matches(path: Path, head: bytes) -> bool:
    if path.is_dir():
        return _directory_prefix(path) is not None
    if path.name.endswith(".index") or _DATA_SHARD.match(path.name):
        return True
    if path.with_name(path.name + ".index").is_file():
        return True
    return path.is_file() and _ends_with_table_magic(path)  # TF V1 single-file checkpoint


def _ends_with_table_magic(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if size < 48:
                return False
            # Asked of every file: at a URL this fetches the 8 bytes, not a block around them.
            tail = bytearray(8)
            return read_range_into(handle, memoryview(tail), size - 8) == 8 and tail == TABLE_MAGIC
    except OSError:
        return False


def is_data_shard(path: Path) -> bool:
    return _DATA_SHARD.match(path.name) is not None


def resolve_prefix(path: Path) -> Path:
    """The checkpoint prefix that `path` names (no extension), or a V1 single file itself."""
    if path.is_dir():
        prefix = _directory_prefix(path)
        if prefix is None:
            raise InputError("a directory with no TensorFlow checkpoint in it", path)
        return prefix
    if path.name.endswith(".index"):
        return path.with_name(path.name[: -len(".index")])
    shard = _DATA_SHARD.match(path.name)
    if shard:
        return path.with_name(shard.group("prefix"))
    return path


def _directory_prefix(directory: Path) -> Path | None:
    saved_model_variables = directory / "variables" / "variables"
    if saved_model_variables.with_name("variables.index").is_file():
        return saved_model_variables
    state = directory / "checkpoint"
    if state.is_file():
        try:
            match = _STATE_LINE.search(state.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            match = None
        if match:
            named = Path(match.group("path").replace('\\"', '"'))
            if named.is_absolute() and not isinstance(directory, Path):
                # A state file at a URL naming a path of the machine that wrote it: never
                # a file of this machine.
                named = Path(named.name)
            prefix = named if named.is_absolute() else directory / named
            # A state file copied from another machine names an absolute path that is not
            # here; the checkpoint usually sits beside the state file under the same name.
            for candidate in (prefix, directory / named.name):
                if candidate.with_name(candidate.name + ".index").is_file():
                    return candidate
                if candidate.is_file() and _ends_with_table_magic(candidate):
                    return candidate  # a V1 single-file checkpoint
            # The state file decides; one naming a checkpoint that is not here is not
            # silently replaced by another (model.ckpt-5000 asked, model.ckpt read).
            present = [p.name for p in _indexes(directory)]
            raise InputError(
                f"its checkpoint state file names {match.group('path')}, which is not here; "
                + (f"the directory holds {', '.join(present)}" if present else
                   "the directory holds no checkpoint"), directory,
                hint="name the checkpoint to read, or correct the state file")
    indexes = _indexes(directory)
    return indexes[-1] if indexes else None


def _indexes(directory: Path) -> list[Path]:
    """The prefixes of the checkpoints in `directory`, oldest first (by their index's mtime).
    is_file() also drops dangling symlinks, whose stat() would raise."""
    from ..cells import natural_key

    # Where times are unknown (an HTTP listing), model.ckpt-10000 still comes after -9000.
    found = sorted((p for p in directory.glob("*.index") if p.is_file()),
                   key=lambda p: (p.stat().st_mtime, natural_key(p.name)))
    return [p.with_name(p.name[: -len(".index")]) for p in found]


def checkpoint_files(prefix: Path) -> list[Path]:
    if prefix.is_file():
        return [prefix]
    return [prefix.with_name(prefix.name + ".index"),
            *sorted(prefix.parent.glob(glob.escape(prefix.name) + ".data-*"))]


def open(path: Path, reader: str = "auto") -> TensorSource:  # noqa: A001
    if reader not in READERS:
        raise UsageError(f"unknown reader {reader!r}; choose one of {', '.join(READERS)}")
    prefix = resolve_prefix(path)
    if not isinstance(prefix, Path) and reader == "tensorflow":
        raise UsageError("--reader tensorflow reads local files only; grutool's own reader "
                         "reads checkpoints at URLs")
    if reader == "tensorflow":
        return TensorFlowCheckpointSource(prefix)
    from . import tf_bundle

    try:
        return tf_bundle.open_bundle(prefix)
    except tf_bundle.BuiltinUnsupported as exc:
        if reader == "builtin" or not isinstance(prefix, Path):
            raise InputError(f"the built-in reader cannot read this checkpoint: {exc}", path,
                             hint="try --reader tensorflow" if isinstance(prefix, Path) else
                             "download it and try --reader tensorflow") from exc
        try:
            return TensorFlowCheckpointSource(prefix)
        except MissingExtraError as missing:
            raise MissingExtraError(f"the built-in reader cannot read this checkpoint ({exc}) "
                                    "and TensorFlow is not installed", "tf", path) from missing


class TensorFlowCheckpointSource(TensorSource):
    """A TF checkpoint read through `tf.train.load_checkpoint` (the `tf` extra)."""

    def __init__(self, prefix: Path):
        super().__init__(path=prefix, format=FORMAT, files=checkpoint_files(prefix))
        from ..frameworks import import_tensorflow, native_stderr_hidden

        try:
            tf = import_tensorflow()
        except ImportError as exc:
            raise MissingExtraError("reading this TF checkpoint needs TensorFlow", "tf",
                                    prefix) from exc
        try:
            with native_stderr_hidden():
                self._reader = tf.train.load_checkpoint(str(prefix))
            shapes = self._reader.get_variable_to_shape_map()
            dtypes = self._reader.get_variable_to_dtype_map()
        except Exception as exc:  # TensorFlow raises its own zoo of error types here
            raise CorruptFileError(f"TensorFlow cannot read the checkpoint: "
                                   f"{first_line(exc)}", prefix) from exc
        for name in sorted(shapes):
            self.infos[name] = TensorInfo(name, tuple(int(n) for n in shapes[name]),
                                          dtypes[name].name)

    def _read(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self._reader.get_tensor(name))
        except Exception as exc:  # noqa: BLE001 - TensorFlow's error types vary by version
            raise CorruptFileError(f"TensorFlow cannot read {name!r}: {first_line(exc)}",
                                   self.path) from exc

