"""HDF5 files (`.h5`, `.hdf5`, Keras `.weights.h5`): every dataset, named by its HDF5 path.

External links are never followed (visiting goes by hard links only), and a dataset whose
data lives in another file (external storage, virtual datasets) is refused on read.

Besides the tensors, the facts Keras files state about their structure, for the Keras GRU
family: `group_names` (Keras 3: the layer name in each `vars` group's `name` attribute),
`weight_order` (a Keras 2 style file's `layer_names` and `weight_names` lists: the model's
layers in model order and each layer's weights in its own order, stacked cells included) and,
from a full model's `model_config`, `keras_config` (the JSON as written, see `keras_archive`),
with the Keras version that wrote the file (Keras 3's legacy `.h5` has Keras 3's `hard_sigmoid`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import CorruptFileError, InputError, first_line
from ..tensors import KerasModelConfig, TensorInfo, TensorSource
from .json_text import load_json

FORMAT = "hdf5"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# A chunked dataset may declare any shape over a few written chunks; reading it fills the
# rest with its fill value, so a 5 KB file can ask for a terabyte. Datasets up to this size
# are read whatever their storage; larger ones must not inflate more than the bound below
# (above deflate's ceiling of about 1032:1, so a gzip-compressed tensor of zeros still reads).
SMALL_DATASET_BYTES = 2**20
MAX_DATASET_INFLATION = 2048


def matches(path: Path, head: bytes) -> bool:
    # The superblock may also sit at 512, 1024, … bytes; the extension covers those files.
    return head.startswith(HDF5_MAGIC) or (
        path.is_file() and path.suffix.lower() in (".h5", ".hdf5", ".keras2"))


@functools.lru_cache(maxsize=256)
def _dtype_name(dtype: np.dtype) -> str:
    # Cached: NumPy builds `dtype.name` anew at each call, for each of a file's datasets.
    if dtype.kind in ("S", "U", "O"):
        return "string"
    return dtype.name


class Hdf5Source(TensorSource):
    def __init__(self, path: Path, format: str = FORMAT, fileobj: IO[bytes] | None = None):
        """`fileobj`: an HDF5 image held elsewhere (a `.keras` archive's weights), which
        this source then owns and closes."""
        super().__init__(path=path, format=format, files=[path])
        self._fileobj = fileobj
        try:
            import h5py
        except ImportError as exc:  # h5py is a core dependency: no extra brings it back
            raise InputError(f"reading HDF5 needs h5py, which is missing or broken "
                             f"({first_line(exc)}); reinstall grutool", path) from exc
        try:
            if fileobj is None and not isinstance(path, Path):
                # At a URL, h5py reads through a file object whose reads are range requests.
                fileobj = self._fileobj = path.open("rb")
            self._file = h5py.File(fileobj if fileobj is not None else path, "r")
        except OSError as exc:
            raise CorruptFileError(f"not a readable HDF5 file ({first_line(exc)})", path) from exc
        try:
            self._list(h5py)
        except BaseException:
            self._file.close()
            raise

    def _list(self, h5py) -> None:
        path = self.path
        # Dataset name -> the name's bytes as stored. The listing walks h5py's low-level
        # object ids: building a high-level object per member cost 4 ms a file, the ids 2 ms.
        self._stored_names: dict[str, bytes] = {}
        self._opened: dict[str, Any] = {}  # h5py Datasets of the tensors read so far
        # Keras 3 names each layer in its `vars` group's `name` attribute: group -> layer name.
        self.group_names: dict[str, str] = {}
        # Keras 2 style files list their weights in model order: tensor -> (layer, weight).
        self.weight_order: dict[str, tuple[int, int]] = {}
        file_id = self._file.id
        is_dataset, is_group, open_dataset = h5py.h5o.TYPE_DATASET, h5py.h5o.TYPE_GROUP, h5py.h5d.open

        def visit(stored: bytes, info) -> None:
            name = stored.decode("utf-8", "replace")
            if info.type == is_dataset:
                dataset = open_dataset(file_id, stored)
                self._stored_names[name] = stored  # the listed info and the data: one dataset
                shape = tuple(map(int, dataset.shape or ()))
                self.infos[name] = TensorInfo(name, shape, _dtype_name(dataset.dtype))
            elif info.type == is_group and (name == "vars" or name.endswith("/vars")):
                layer_name = _text_attribute(h5py, file_id, stored, b"name")
                if layer_name is not None:
                    self.group_names[name[: -len("vars")].rstrip("/")] = layer_name

        try:
            h5py.h5o.visit(file_id, visit, info=True)
            self.attributes = {key: _decode(value) for key, value in self._file.attrs.items()}
            self.text_metadata = {key: value for key, value in self.attributes.items()
                                  if isinstance(value, str)}
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise CorruptFileError(f"damaged HDF5 structure ({first_line(exc)})", path) from exc
        try:
            self.weight_order = self._keras2_weight_order(h5py)
        except (OSError, RuntimeError, KeyError, ValueError):
            self.weight_order = {}  # damaged lists only cost their facts; the weights still read
        model_config = self.json_attribute("model_config")  # a Keras 2 full-model file
        if isinstance(model_config, dict) and "model_weights" in self._file:
            self.keras_config = KerasModelConfig(
                model_config, _keras_major(self.attributes.get("keras_version")) == 3,
                "the model_config attribute", weights_group="model_weights")

    def _keras2_weight_order(self, h5py) -> dict[str, tuple[int, int]]:
        """The order a Keras 2 style file (tf_keras, or Keras 3's legacy `.h5`) states for its
        weights: tensor name -> (index of its layer in the `layer_names` attribute of
        `model_weights`, or of the root in a weights-only file; index in that layer group's
        `weight_names`). The model's layers in model order, nested models and stacked cells in
        place. Empty when the file has no such lists; names that are not datasets are skipped."""
        for prefix in ("model_weights", ""):
            group = self._file.get(prefix) if prefix else self._file
            if not isinstance(group, h5py.Group):
                continue
            # The root's attributes are read already.
            layer_names = _names(group.attrs.get("layer_names") if prefix
                                 else self.attributes.get("layer_names"))
            if layer_names is None:
                continue
            order: dict[str, tuple[int, int]] = {}
            for layer_index, layer in enumerate(layer_names):
                layer_group = group.get(layer) if layer else None
                if not isinstance(layer_group, h5py.Group):
                    continue
                key = f"{prefix}/{layer}" if prefix else layer
                weights = _names(layer_group.attrs.get("weight_names")) or []
                for weight_index, weight in enumerate(weights):
                    if f"{key}/{weight}" in self.infos:
                        order.setdefault(f"{key}/{weight}", (layer_index, weight_index))
            return order
        return {}

    def json_attribute(self, key: str) -> object | None:
        """A root attribute holding JSON (Keras's `model_config`, grutool's `__grutool__`)."""
        value = self.attributes.get(key)
        if not isinstance(value, str):
            return None
        try:
            return load_json(value, f"the {key} attribute", self.path)
        except CorruptFileError:  # a damaged config only costs its facts; the weights still read
            return None

    def _dataset(self, name: str):
        dataset = self._opened.get(name)
        if dataset is None:
            import h5py

            # From the id, as the listing opened it: 30 us, where `file[name]` takes 50 us.
            dataset = self._opened[name] = h5py.Dataset(
                h5py.h5d.open(self._file.id, self._stored_names[name]))
        return dataset

    def _read(self, name: str) -> np.ndarray:
        dataset = self._dataset(name)
        if dataset.is_virtual or dataset.external:
            raise InputError(f"dataset {name!r} keeps its data in another file, which grutool "
                             "does not follow", self.path)
        try:
            self._check_inflation(name, dataset)
            return np.asarray(dataset[()])
        except (OSError, RuntimeError, ValueError) as exc:
            raise CorruptFileError(f"cannot read dataset {name!r} ({first_line(exc)})",
                                   self.path) from exc

    def _check(self, name: str) -> None:
        try:
            self._check_inflation(name, self._dataset(name))
        except (OSError, RuntimeError, ValueError) as exc:
            raise CorruptFileError(f"cannot read dataset {name!r} ({first_line(exc)})",
                                   self.path) from exc

    def _check_inflation(self, name: str, dataset) -> None:
        declared = dataset.nbytes
        if declared <= SMALL_DATASET_BYTES:
            return
        stored = dataset.id.get_storage_size()
        if declared > MAX_DATASET_INFLATION * stored:
            raise CorruptFileError(f"dataset {name!r} declares {list(dataset.shape)} "
                                   f"{dataset.dtype} ({declared} bytes) over {stored} stored "
                                   "bytes; reading it would allocate for data the file does "
                                   "not hold", self.path)

    def close(self) -> None:
        self._file.close()
        if self._fileobj is not None:
            self._fileobj.close()


def _text_attribute(h5py, file_id, object_name: bytes, key: bytes) -> str | None:
    """The attribute `key` of the object at `object_name` if it is one string, else None.
    Read through h5py's low-level ids: 35 us, where a Group and its AttributeManager take
    90 us (a Keras 3 file has a `vars` group per layer and per optimizer)."""
    if not h5py.h5a.exists(file_id, key, obj_name=object_name):
        return None
    attribute = h5py.h5a.open(file_id, key, obj_name=object_name)
    if attribute.shape != ():  # an array, or an empty dataspace (shape None)
        return None
    try:
        value = np.empty((), dtype=attribute.dtype)
        attribute.read(value)
    except TypeError:  # an HDF5 type with no NumPy equivalent: not a name
        return None
    text = _decode(value[()])
    return text if isinstance(text, str) else None


def _names(value: object) -> list[str] | None:
    """A Keras list-of-names attribute (an array of byte strings) as text, or None."""
    if value is None:
        return None
    try:
        items = list(np.asarray(value).reshape(-1))
    except (TypeError, ValueError):
        return None
    names = [_decode(item) for item in items]
    texts = [name for name in names if isinstance(name, str)]
    return texts if len(texts) == len(names) else None


def _keras_major(version: object) -> int:
    """2 or 3 from a `keras_version` string; files that do not say are Keras 2's (Keras 3
    always writes its version)."""
    return 3 if isinstance(version, str) and version.split(".", 1)[0] == "3" else 2


def _decode(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def open(path: Path) -> Hdf5Source:  # noqa: A001
    return Hdf5Source(path)
