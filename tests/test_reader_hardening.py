"""Malformed inputs to the ONNX, HDF5 and Keras, safetensors, PyTorch, Flax and zip readers:
each is a one-line error (never a raw TypeError, MemoryError, RecursionError … escaping), and a
valid file near one is still read. Inputs are built in tmp_path from the committed fixtures or
tiny synthetic files. The built-in TensorFlow reader's are in test_tf_bundle.py."""

from __future__ import annotations

import json
import shutil
import struct
import sys
import zipfile

import numpy as np
import pytest
from conftest import KERAS

import grutool
from grutool.errors import CorruptFileError, InputError
from grutool.readers import open_source

# --- ONNX -----------------------------------------------------------------------------------

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


# --- HDF5 and Keras -------------------------------------------------------------------------

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


def _vars_names_by_h5py(path) -> dict[str, str]:
    """Each Keras 3 `vars` group's `name` attribute, read by h5py's high-level interface."""
    import h5py

    found = {}
    with h5py.File(path, "r") as handle:
        def visit(name, item):
            if isinstance(item, h5py.Group) and name.endswith("vars") and "name" in item.attrs:
                value = item.attrs["name"]
                found[name[:-len("vars")].rstrip("/")] = (value.decode() if isinstance(value, bytes)
                                                          else value)
        handle.visititems(visit)
    return found


@pytest.mark.parametrize("fixture", ["k3_stacked", "k3_nested", "k3_stack12"])
def test_keras3_layer_names_are_the_vars_groups_name_attributes(fixture):
    path = KERAS / fixture / "model.weights.h5"
    expected = _vars_names_by_h5py(path)
    assert expected and all(isinstance(name, str) for name in expected.values())
    with open_source(path) as source:
        assert source.group_names == expected


@pytest.mark.parametrize("value", [7, np.array([b"a", b"b"]), np.void(b"\x01\x02"), "empty"])
def test_a_vars_name_that_is_not_one_string_names_nothing(tmp_path, value):
    import h5py

    path = tmp_path / "model.weights.h5"
    shutil.copy(KERAS / "k3_stacked" / "model.weights.h5", path)
    with h5py.File(path, "r+") as handle:
        attrs = handle["layers/gru/cell/vars"].attrs
        attrs["name"] = h5py.Empty("f4") if isinstance(value, str) else value
    expected = _vars_names_by_h5py(KERAS / "k3_stacked" / "model.weights.h5")
    with open_source(path) as source:
        assert "layers/gru/cell" not in source.group_names
        assert source.group_names == {group: name for group, name in expected.items()
                                      if group != "layers/gru/cell"}
        assert {info.name for info in source.tensors()} >= {"layers/gru/cell/vars/0"}


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
        assert source.tensors() and source.keras_config is None


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
    from grutool.families import keras_config
    from grutool.readers import hdf5

    def confused(*args):
        raise TypeError("unhashable type: 'list'")

    closed = []
    original_close = hdf5.Hdf5Source.close
    monkeypatch.setattr(hdf5.Hdf5Source, "close",
                        lambda self: (closed.append(True), original_close(self)))
    monkeypatch.setattr(keras_config, "keras3_layer_configs", confused)
    with pytest.raises(CorruptFileError, match="config.json"):
        grutool.open_checkpoint(KERAS / "k3_stacked" / "model.keras")
    assert closed


def test_broken_h5py_is_an_input_error_naming_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(InputError, match="h5py"):
        open_source(KERAS / "tfk_model" / "model.h5")


# --- PyTorch and Flax -------------------------------------------------------------------------

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


# --- zip containers ---------------------------------------------------------------------------

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


def test_two_names_that_decode_alike_list_and_read_the_same_dataset(tmp_path):
    """Names that are not UTF-8 are shown with U+FFFD: two such names can become one. What
    is listed under it (shape, dtype) must be what is read under it."""
    import h5py

    path = tmp_path / "names.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset(b"w\xfe", data=np.zeros((2, 3), np.float32))
        handle.create_dataset(b"w\xff", data=np.ones((4,), np.float64))
    with open_source(path) as source:
        (info,) = source.tensors()
        array = source.read(info.name)
        assert (list(array.shape), array.dtype.name) == (list(info.shape), info.dtype)
