"""Keras `.keras` archives (Keras 3, and tf_keras's "v3" format): a zip holding
`config.json`, `metadata.json` and `model.weights.h5`.

The weights file is read with h5py in place in the archive (`zip_member`), so nothing is
extracted. Its datasets are named by their HDF5 paths (`layers/gru/cell/vars/0`), exactly as
in a Keras 3 `.weights.h5`.

`config.json` states what shapes cannot: `reset_after` when there is no bias, activations,
`go_backwards`, a Bidirectional's `merge_mode`, the order of the model's layers and of a
StackedRNNCells' cells. The reader keeps it as written, in `source.keras_config`, as the HDF5
reader keeps a Keras 2 full-model `.h5`'s `model_config` attribute; what it says of each
recurrent layer is the Keras GRU family's to read (`grutool.families.keras_config`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, InputError
from ..tensors import KerasModelConfig
from .json_text import load_json
from .zip_safety import DAMAGED_ZIP_ERRORS, check_zip_members, open_zip

FORMAT = "keras"
ZIP_MAGIC = b"PK\x03\x04"
WEIGHTS_MEMBER = "model.weights.h5"
CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
MAX_CONFIG_BYTES = 64 * 2**20


def matches(path: Path, head: bytes) -> bool:
    if not head.startswith(ZIP_MAGIC):
        return False
    if path.suffix.lower() == ".keras":
        return True
    try:
        with open_zip(path) as archive:
            names = set(archive.namelist())
    except (*DAMAGED_ZIP_ERRORS, OSError):
        return False
    return WEIGHTS_MEMBER in names and CONFIG_MEMBER in names


def open(path: Path):  # noqa: A001 - the reader protocol's name
    from .hdf5 import Hdf5Source

    try:
        archive = open_zip(path)
    except DAMAGED_ZIP_ERRORS as exc:
        raise CorruptFileError(f"not a valid .keras (zip) archive: {exc}", path) from exc
    except OSError as exc:
        raise InputError(f"cannot read the archive: {exc}", path) from exc
    with archive:
        members = {member.filename: member for member in check_zip_members(archive, path)}
        if WEIGHTS_MEMBER not in members:
            raise CorruptFileError(f"the .keras archive has no {WEIGHTS_MEMBER}", path)
        config = _read_json(archive, members.get(CONFIG_MEMBER), path)
        metadata = _read_json(archive, members.get(METADATA_MEMBER), path) or {}
        weights = _spool_member(archive, members[WEIGHTS_MEMBER], path)
    try:
        source = Hdf5Source(path, format=FORMAT, fileobj=weights)
    except BaseException:
        weights.close()
        raise
    if config is not None:
        keras3 = not str(metadata.get("keras_version", "3")).startswith(("1.", "2."))
        source.keras_config = KerasModelConfig(config, keras3, CONFIG_MEMBER)
    return source


def _read_json(archive: zipfile.ZipFile, member: zipfile.ZipInfo | None,
                 path: Path) -> dict[str, Any] | None:
    if member is None:
        return None
    if member.file_size > MAX_CONFIG_BYTES:
        raise CorruptFileError(f"{member.filename} declares {member.file_size} bytes", path)
    try:
        with archive.open(member) as handle:
            text = handle.read(MAX_CONFIG_BYTES + 1)
    except (*DAMAGED_ZIP_ERRORS, OSError) as exc:
        raise CorruptFileError(f"cannot read {member.filename}: {exc}", path) from exc
    config = load_json(text, member.filename, path)
    return config if isinstance(config, dict) else None


def _spool_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path):
    """The member as a file object h5py can read, read in place in the archive, not copied
    to a temporary file (the module docstring's spool is gone: see `zip_member`; a stored
    member is a byte range of the archive, a deflated one is inflated block by block from
    checkpoints). Never inflated beyond what it declares."""
    from .zip_member import open_member

    try:
        return open_member(path, member)
    except (*DAMAGED_ZIP_ERRORS, OSError) as exc:
        raise CorruptFileError(f"cannot read {member.filename}: {exc}", path) from exc
