"""Hostile inputs found by a review of the readers: each test fails on the code before its fix
(a raw TypeError, MemoryError, RecursionError … escaping, or a valid file refused) and passes
after it. Inputs are built in tmp_path from the committed fixtures or tiny synthetic files."""

from __future__ import annotations

import json
import shutil
import struct
import sys
import time
import zipfile

import numpy as np
import pytest
from conftest import FIXTURES, KERAS
from tf_table_writer import proto_field, table_bytes, varint

from grutool.errors import CorruptFileError, InputError
from grutool.readers import open_source


def shape(*dims: int) -> bytes:
    return b"".join(proto_field(2, proto_field(1, size)) for size in dims)


def bundle(tmp_path, header: bytes, entry: bytes):
    """A V2 checkpoint prefix whose index holds `header` and one tensor entry `w`."""
    prefix = tmp_path / "model.ckpt"
    (tmp_path / "model.ckpt.index").write_bytes(table_bytes([(b"", header), (b"w", entry)]))
    (tmp_path / "model.ckpt.data-00000-of-00001").write_bytes(bytes(16))
    return prefix


GOOD_HEADER = proto_field(1, 1) + proto_field(3, proto_field(1, 1))
GOOD_ENTRY = proto_field(1, 1) + proto_field(2, shape(4)) + proto_field(5, 16)


def v1_checkpoint(tmp_path, name: bytes, dtype: int, dims: tuple[int, ...],
                  slices: list[list[tuple[int, int | None]]] | None = None,
                  values: dict[bytes, bytes] | None = None):
    """A V1 single-file checkpoint listing one tensor; `values`: slice key -> TensorProto."""
    from grutool.readers.tf_bundle import slice_key

    if slices is None:
        slices = [[(0, None)] * len(dims)]

    def extent(start, length):
        return proto_field(1, start) + (b"" if length is None else proto_field(2, length))

    slice_messages = b"".join(
        proto_field(4, b"".join(proto_field(1, extent(*e)) for e in box)) for box in slices)
    tensor = proto_field(1, name) + proto_field(2, shape(*dims)) + proto_field(3, dtype) \
        + slice_messages
    entries = [(b"", proto_field(1, proto_field(1, tensor)))]
    for key_extents, proto in (values or {}).items():
        entries.append((key_extents, proto_field(2, proto_field(3, proto))))
    path = tmp_path / "model.ckpt"
    path.write_bytes(table_bytes(entries))
    return path, slice_key


# --- TF checkpoints (finding 1-5, 12) ----------------------------------------------------------

@pytest.mark.parametrize("header, entry", [
    (GOOD_HEADER, proto_field(1, 1) + proto_field(2, 4) + proto_field(5, 16)),  # shape: varint
    (GOOD_HEADER, proto_field(1, 1) + proto_field(2, shape(4)) + proto_field(3, b"\x00")
     + proto_field(5, 16)),  # shard: bytes
    (GOOD_HEADER, proto_field(1, b"\x01") + proto_field(2, shape(4)) + proto_field(5, 16)),
    (proto_field(1, b"\x01") + proto_field(3, proto_field(1, 1)), GOOD_ENTRY),  # num_shards
    (proto_field(1, 1) + proto_field(3, 7), GOOD_ENTRY),  # version: varint
    (proto_field(1, 1) + proto_field(3, b"\xff"), GOOD_ENTRY),  # version: a cut varint
], ids=["shape-varint", "shard-bytes", "dtype-bytes", "header-shards-bytes",
        "header-version-varint", "header-version-damaged"])
def test_wrong_wire_types_with_valid_crcs_are_corrupt_files(tmp_path, header, entry):
    assert open_source(bundle(tmp_path, GOOD_HEADER, GOOD_ENTRY)).read("w").shape == (4,)
    with pytest.raises(CorruptFileError) as raised:
        open_source(bundle(tmp_path, header, entry))
    assert raised.value.path.endswith("model.ckpt.index")


def test_v1_shape_larger_than_the_file_is_refused_before_allocating(tmp_path):
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (1 << 24, 1 << 22))
    assert path.stat().st_size < 400
    with pytest.raises(CorruptFileError, match="more values than"):
        open_source(path).read("w")


def test_v1_uint32_and_uint64_tensors_read(tmp_path):
    for dtype, field, values in ((22, 16, [1, 2**32 - 1]), (23, 17, [3, 2**64 - 1])):
        folder = tmp_path / str(dtype)
        folder.mkdir()
        _, slice_key = v1_checkpoint(folder, b"w", dtype, (2,))
        key = slice_key(b"w", ((0, None),))
        packed = b"".join(varint(v) for v in values)
        path, _ = v1_checkpoint(folder, b"w", dtype, (2,),
                                values={key: proto_field(field, packed)})
        with open_source(path) as source:
            assert source.read("w").tolist() == values


def test_v1_float_sent_as_an_oversized_varint_is_corrupt(tmp_path):
    _, slice_key = v1_checkpoint(tmp_path, b"w", 1, (1,))
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (1,),
                            values={slice_key(b"w", ((0, None),)): proto_field(5, 2**40)})
    with open_source(path) as source, pytest.raises(CorruptFileError, match="does not fit"):
        source.read("w")


def test_many_slices_are_checked_quickly_and_too_many_refused(tmp_path):
    count = 4000
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (count,), [[(k, 1)] for k in range(count)])
    started = time.perf_counter()
    with open_source(path) as source:
        assert source.tensors()[0].shape == (count,)
    assert time.perf_counter() - started < 2.0  # 7 s with the pairwise Python loop
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (5000,), [[(k, 1)] for k in range(5000)])
    with pytest.raises(CorruptFileError, match="5000 slices"):
        open_source(path)


def test_overlapping_slices_are_still_found(tmp_path):
    # Volumes add up to the tensor's (2 + 2 = 4), but [1:3] overlaps [0:2] and 3 is uncovered.
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (4, 3), [[(0, 2), (0, None)], [(1, 2), (0, None)]])
    with pytest.raises(CorruptFileError, match="overlap"):
        open_source(path)


def test_dangling_index_symlink_in_a_checkpoint_directory(tmp_path):
    source = FIXTURES / "tf_bundle" / "v1" / "model.ckpt"
    (tmp_path / "stale.index").symlink_to(tmp_path / "gone.index")
    with pytest.raises(InputError):
        open_source(tmp_path)
    shutil.copy(source, tmp_path / "model.ckpt")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    with open_source(tmp_path) as opened:
        assert opened.tensors()


# --- ONNX (finding 6, 7) -----------------------------------------------------------------------

def _onnx_model(tmp_path, nodes, initializers):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    gru = helper.make_node("GRU", ["X", "W", "R"], ["Y"], hidden_size=2, name="gru")
    graph = helper.make_graph(
        [*nodes, gru], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(array, name) for name, array in initializers.items()])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.mark.onnx
def test_onnx_constant_folding_is_bounded_by_the_file(tmp_path):
    from onnx import helper

    part = np.zeros((1, 6, 3), np.float32)
    parts = np.zeros((1, 16384), np.float32)  # 64 KiB; 2000 copies would be 128 MiB
    concat = helper.make_node("Concat", ["P"] * 2000, ["W_big"], axis=0)
    reshape = helper.make_node("Identity", ["Wp"], ["W"])
    path = _onnx_model(tmp_path, [concat, reshape],
                       {"P": parts, "Wp": part, "R": np.zeros((1, 6, 2), np.float32)})
    with open_source(path) as source:
        assert "W" in source.infos  # a small expression still folds
    gru_big = helper.make_node("Identity", ["W_big"], ["W"])
    path = _onnx_model(tmp_path, [concat, gru_big],
                       {"P": parts, "R": np.zeros((1, 6, 2), np.float32)})
    with open_source(path) as source:
        assert "W" not in source.infos


@pytest.mark.onnx
def test_onnx_unsqueeze_of_an_empty_input_is_not_folded(tmp_path):
    from onnx import helper

    unsqueeze = helper.make_node("Unsqueeze", ["", "axes"], ["W"])
    path = _onnx_model(tmp_path, [unsqueeze], {"axes": np.array([0], np.int64),
                                               "R": np.zeros((1, 6, 2), np.float32)})
    with open_source(path) as source:
        assert "W" not in source.infos


# --- HDF5 and Keras (finding 8-10) -------------------------------------------------------------

def test_hdf5_dataset_declaring_far_more_than_it_stores(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as handle:
        big = handle.create_dataset("big", shape=(2**20, 2**18), dtype="f4", chunks=(16, 16))
        big[0:16, 0:16] = 1.0
        handle.create_dataset("zeros", data=np.zeros((1024, 1024), np.float32),
                              compression="gzip", compression_opts=9)
    assert path.stat().st_size < 64 * 1024
    with open_source(path) as source:
        assert source.read("zeros").shape == (1024, 1024)  # honest compression still reads
        with pytest.raises(CorruptFileError, match="'big'"):
            source.read("big")
    with open_source(KERAS / "tfk_model" / "model.h5") as source:
        assert all(source.read(info.name).size == np.prod(info.shape)
                   for info in source.tensors() if info.dtype != "string")


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_in_a_safetensors_header(tmp_path):
    text = ('{"a": ' + _deep(100_000) + "}").encode()
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(CorruptFileError, match="nests too deeply"):
        open_source(path)


def _keras_with_config(tmp_path, config_text: str):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(KERAS / "k3_stacked" / "model.keras") as original, \
            zipfile.ZipFile(path, "w") as changed:
        for info in original.infolist():
            data = original.read(info)
            changed.writestr(info, config_text if info.filename == "config.json" else data)
    return path


def test_deeply_nested_json_in_a_keras_config(tmp_path):
    with pytest.raises(CorruptFileError, match="nests too deeply"):
        open_source(_keras_with_config(tmp_path, _deep(100_000)))


def test_deeply_nested_model_config_in_a_keras2_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "model.h5"
    shutil.copy(KERAS / "tfk_model" / "model.h5", path)
    with h5py.File(path, "a") as handle:
        handle.attrs["model_config"] = _deep(100_000)
    with open_source(path) as source:  # the weights still read; the config gives no facts
        assert source.tensors() and not source.layer_configs


def _gru(name, **config):
    return {"class_name": "GRU", "config": {"name": name, "units": 4, **config}}


@pytest.mark.parametrize("layers", [
    [_gru(["a", "list"])],
    [{"class_name": "RNN", "config": {"name": "rnn", "cell": {
        "class_name": "StackedRNNCells", "config": {"cells": 5}}}}],
    [{"class_name": "Sequential", "config": {"name": "inner", "layers": [_gru({"a": 1})]}}],
], ids=["name-list", "cells-int", "nested-name-dict"])
def test_wrong_typed_keras3_config_values(tmp_path, layers):
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": layers}}
    with open_source(_keras_with_config(tmp_path, json.dumps(config))) as source:
        assert source.tensors()


def test_wrong_typed_keras2_model_config(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "model.h5"
    shutil.copy(KERAS / "tfk_model" / "model.h5", path)
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "RNN", "config": {"name": "rnn", "cell": {
            "class_name": "StackedRNNCells", "config": {"cells": 5}}}}]}}
    with h5py.File(path, "a") as handle:
        handle.attrs["model_config"] = json.dumps(config)
    with open_source(path) as source:
        assert source.tensors()


def test_keras_config_the_walk_cannot_use_is_corrupt_and_closes(tmp_path, monkeypatch):
    # Whatever still trips the config walk (no known file does, after the type checks) is a
    # damaged file, and the HDF5 image just opened is closed, not leaked.
    from grutool.readers import hdf5, keras_archive

    def confused(*args):
        raise TypeError("unhashable type: 'list'")

    closed = []
    original_close = hdf5.Hdf5Source.close
    monkeypatch.setattr(hdf5.Hdf5Source, "close",
                        lambda self: (closed.append(True), original_close(self)))
    monkeypatch.setattr(keras_archive, "keras3_layer_configs", confused)
    with pytest.raises(CorruptFileError, match="config.json"):
        open_source(KERAS / "k3_stacked" / "model.keras")
    assert closed


def test_broken_h5py_is_an_input_error_naming_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(InputError, match="h5py"):
        open_source(KERAS / "tfk_model" / "model.h5")


# --- PyTorch and Flax (finding 11) -------------------------------------------------------------

@pytest.mark.torch
def test_torch_state_dict_containing_itself(tmp_path):
    torch = pytest.importorskip("torch")
    state: dict = {"w": torch.zeros(2)}
    state["self"] = state
    path = tmp_path / "cycle.pt"
    torch.save(state, path)
    with pytest.raises(CorruptFileError, match="contains itself"):
        open_source(path)


def test_flax_maps_nested_past_the_recursion_limit(tmp_path):
    msgpack = pytest.importorskip("msgpack")
    leaf = msgpack.ExtType(1, msgpack.packb(((2,), "float32", bytes(8))))
    tree: dict = {"kernel": leaf}
    for _ in range(1020):
        tree = {"m": tree}
    path = tmp_path / "deep.msgpack"
    path.write_bytes(msgpack.packb(tree))
    with open_source(path) as source:
        (info,) = source.tensors()
        assert info.name == "/".join(["m"] * 1020 + ["kernel"]) and info.shape == (2,)


# --- zip containers (finding 13) ---------------------------------------------------------------

def test_compressed_npz_of_zeros_is_not_a_zip_bomb(tmp_path):
    path = tmp_path / "emb.npz"
    np.savez_compressed(path, emb=np.zeros((1024, 1024)))
    with zipfile.ZipFile(path) as archive:
        (member,) = archive.infolist()
        assert member.file_size > 1000 * member.compress_size  # deflate's ceiling, reached
    with open_source(path) as source:
        assert not source.read("emb").any()


def test_zip_declaring_more_than_the_total_bound(tmp_path):
    from grutool.readers.zip_safety import MAX_TOTAL_BYTES

    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(20):
            archive.writestr(f"a{k}.npy", b"\x00" * 8)
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos != -1:  # each central-directory entry now declares 4 GiB
        struct.pack_into("<I", data, pos + 24, 2**32 - 2)
        pos = data.find(b"PK\x01\x02", pos + 46)
    path.write_bytes(bytes(data))
    assert 20 * (2**32 - 2) > MAX_TOTAL_BYTES
    with pytest.raises(CorruptFileError, match="in all"):
        open_source(path)
