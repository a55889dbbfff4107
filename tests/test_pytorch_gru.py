"""PyTorch nn.GRU / nn.GRUCell state dicts written by torch (tests/fixtures/pytorch, made by
make_pytorch_fixtures.py): grutool names every cell as the contract says, splits it, and the
NumPy GRU run on the split file alone reproduces torch's own outputs.

The .safetensors copies are read by grutool's own parser (no extra needed); the .pt files
need torch, as grutool reads them only through torch.load(weights_only=True).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from split_checks import TOLERANCE, load_generator, max_error, modules_from_metadata, split_and_run

import grutool
from grutool.cells import FORWARD, REVERSE
from grutool.errors import CorruptFileError, InputError, MissingExtraError
from grutool.gru import run_module

FIXTURES = Path(__file__).parent / "fixtures" / "pytorch"
GENERATOR = Path(__file__).parent / "fixtures" / "make_pytorch_fixtures.py"
INPUT, HIDDEN = 3, 4
WEIGHTS = {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn"}
ALL_PARTS = WEIGHTS | {"b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn"}


def _gru_tensors(prefix: str, suffix: str, bias: bool = True) -> list[str]:
    roles = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    return [f"{prefix}{role}{suffix}" for role in roles]


# reference key -> (module, cells: name -> (layer, direction, input size, source tensors), layout)
EXPECTED = {
    "gru_bidir_2layer": ("gru", {
        "gru.l0": (0, FORWARD, INPUT, _gru_tensors("gru.", "_l0")),
        "gru.l0_reverse": (0, REVERSE, INPUT, _gru_tensors("gru.", "_l0_reverse")),
        "gru.l1": (1, FORWARD, 2 * HIDDEN, _gru_tensors("gru.", "_l1")),
        "gru.l1_reverse": (1, REVERSE, 2 * HIDDEN, _gru_tensors("gru.", "_l1_reverse")),
    }, "pytorch-gru"),
    "gru_nobias": ("gru", {"l0": (0, FORWARD, INPUT, _gru_tensors("", "_l0", bias=False))},
                   "pytorch-gru"),
    "gru_cell": ("cell", {"cell": (0, FORWARD, INPUT, _gru_tensors("cell.", ""))},
                 "pytorch-gru-cell"),
    "batch_first": ("encoder", {"encoder.l0": (0, FORWARD, INPUT, _gru_tensors("encoder.", "_l0"))},
                    "pytorch-gru"),
}
SAFETENSORS = {"gru_bidir_2layer": "gru_bidir_2layer.safetensors", "gru_nobias": "gru_nobias.safetensors",
               "gru_cell": "gru_cell.safetensors", "batch_first": "batch_first.safetensors"}
TORCH_FILES = {"gru_bidir_2layer": "gru_bidir_2layer.pt", "gru_nobias": "gru_nobias.pt",
               "gru_cell": "gru_cell.pt", "batch_first": "batch_first_checkpoint.pt",
               "gru_cell_legacy": "gru_cell_legacy.pt"}


def check(key: str, source: Path, out: Path, reference_dir: Path = FIXTURES) -> float:
    reference_key = "gru_cell" if key == "gru_cell_legacy" else key
    with np.load(reference_dir / "reference.npz", allow_pickle=False) as npz:
        x, expected = npz["x"], npz[f"{reference_key}/y"]
    outputs, arrays, metadata = split_and_run(source, out, x)
    module, cells, layout = EXPECTED[reference_key]
    assert set(outputs) == {module}
    assert set(metadata["cells"]) == set(cells)
    for name, (layer, direction, input_size, tensors) in cells.items():
        fields = metadata["cells"][name]
        assert (fields["module"], fields["layer"], fields["direction"]) == (module, layer, direction)
        assert (fields["input_size"], fields["hidden_size"]) == (input_size, HIDDEN)
        assert fields["layout"] == layout and fields["reset_after"] is True
        assert fields["dtype"] == "float32"
        assert fields["source_tensors"] == tensors
        parts = ALL_PARTS if len(tensors) == 4 else WEIGHTS  # bias=False: biases absent
        assert {k for k in arrays if k.startswith(name + "/")} == {f"{name}/{p}" for p in parts}
    error = max_error(outputs[module], expected)
    assert error <= TOLERANCE, (source, error)
    return error


@pytest.mark.parametrize("key", sorted(SAFETENSORS))
def test_safetensors_fixture_splits_to_torch_outputs(key: str, tmp_path: Path) -> None:
    check(key, FIXTURES / SAFETENSORS[key], tmp_path / "w.npz")


@pytest.mark.torch
@pytest.mark.parametrize("key", sorted(TORCH_FILES))
def test_torch_save_fixture_splits_to_torch_outputs(key: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    check(key, FIXTURES / TORCH_FILES[key], tmp_path / "w.npz")


@pytest.mark.torch
def test_checkpoint_dict_yields_only_the_model_state_dict() -> None:
    pytest.importorskip("torch")
    with grutool.open_checkpoint(FIXTURES / "batch_first_checkpoint.pt") as checkpoint:
        assert checkpoint.format == "pytorch"
        # the optimizer's momentum buffers and the epoch counter are not listed
        assert {info.name for info in checkpoint.source.tensors()} == set(
            _gru_tensors("encoder.", "_l0"))


@pytest.mark.torch
def test_a_pickled_module_is_refused_not_unpickled() -> None:
    pytest.importorskip("torch")
    with pytest.raises(InputError, match="will not unpickle"):
        grutool.open_checkpoint(FIXTURES / "pickled_module.pt")


def test_torch_missing_is_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(MissingExtraError) as raised:
        grutool.open_checkpoint(FIXTURES / "gru_cell.pt")
    assert raised.value.extra == "torch"


def test_gate_order_matters_in_these_fixtures(tmp_path: Path) -> None:
    """Swapping r and z must break the match, else the fixtures could not catch that bug."""
    with np.load(FIXTURES / "reference.npz") as npz:
        x, expected = npz["x"], npz["gru_cell/y"]
    _, arrays, metadata = split_and_run(FIXTURES / "gru_cell.safetensors", tmp_path / "w.npz", x)
    weights = {part: arrays[f"cell/{part}"] for part in ALL_PARTS}
    for first, second in (("W_ir", "W_iz"), ("W_hr", "W_hz"), ("b_ir", "b_iz"), ("b_hr", "b_hz")):
        weights[first], weights[second] = weights[second], weights[first]
    outputs = run_module(modules_from_metadata(metadata)[0], {"cell": weights}, x)
    assert max_error(outputs, expected) > 100 * TOLERANCE


# --- the safetensors reader -------------------------------------------------------------

def _safetensors_bytes(header: dict, data: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def test_safetensors_metadata_and_dtypes(tmp_path: Path) -> None:
    import ml_dtypes

    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    halves = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
              "c": {"dtype": "BOOL", "shape": [], "data_offsets": [28, 29]}}
    path = tmp_path / "t.safetensors"
    path.write_bytes(_safetensors_bytes(header, values.tobytes() + halves.tobytes() + b"\x01"))
    with grutool.open_checkpoint(path) as checkpoint:
        source = checkpoint.source
        assert source.metadata == {"format": "pt"}
        assert {i.name: (i.shape, i.dtype) for i in source.tensors()} == {
            "a": ((2, 3), "float32"), "b": ((2,), "bfloat16"), "c": ((), "bool")}
        np.testing.assert_array_equal(source.read("a"), values)
        np.testing.assert_array_equal(source.read("b").astype(np.float32), [1.5, -2.0])
        assert source.read("c") == np.True_


@pytest.mark.parametrize("header, data, message", [
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "outside"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16, "needs 12"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlap"),
    ({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "unknown dtype"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, "outside"),
    ([1, 2], b"", "not a JSON object"),
])
def test_safetensors_header_is_checked(tmp_path: Path, header, data: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_safetensors_bytes(header, data))
    with pytest.raises(CorruptFileError, match=message):
        grutool.open_checkpoint(path)


def test_safetensors_header_length_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(CorruptFileError, match="header claims"):
        grutool.open_checkpoint(path)
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")  # longer than the file
    with pytest.raises(CorruptFileError, match="header claims"):
        grutool.open_checkpoint(path)


def test_lstm_and_rnn_state_dicts_are_not_gru(tmp_path: Path) -> None:
    # Same names as nn.GRU, but 4H (LSTM) and H (RNN) rows.
    shapes = {"lstm.weight_ih_l0": [16, 3], "lstm.weight_hh_l0": [16, 4],
              "rnn.weight_ih_l0": [4, 3], "rnn.weight_hh_l0": [4, 4]}
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    path = tmp_path / "lstm.safetensors"
    path.write_bytes(_safetensors_bytes(header, b"\0" * offset))
    with grutool.open_checkpoint(path) as checkpoint:
        assert checkpoint.cells == [] and checkpoint.warnings == []


@pytest.mark.torch
def test_live_torch_fixtures_match(tmp_path: Path) -> None:
    """Make the fixtures afresh with the installed torch and check them the same way."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    load_generator(GENERATOR).main(tmp_path)
    for key, name in TORCH_FILES.items():
        check(key, tmp_path / name, tmp_path / f"{key}.npz", reference_dir=tmp_path)
    for key, name in SAFETENSORS.items():
        check(key, tmp_path / name, tmp_path / f"{key}_st.npz", reference_dir=tmp_path)


def test_zip_with_unsafe_member_names_is_refused_before_torch(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("../outside/data/0", b"\0" * 4)
    with pytest.raises(CorruptFileError, match="unsafe path"):
        grutool.open_checkpoint(path)


def test_torchscript_archives_are_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "scripted.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("model/code/__torch__.py", b"def forward(self): pass\n")
        archive.writestr("model/constants.pkl", b"\x80\x02).")
    with pytest.raises(InputError, match="TorchScript"):
        grutool.open_checkpoint(path)


def test_legacy_format_is_recognised_by_its_magic_number(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "no_extension"
    path.write_bytes((FIXTURES / "gru_cell_legacy.pt").read_bytes())
    with grutool.open_checkpoint(path) as checkpoint:
        assert checkpoint.format == "pytorch"
        assert [cell.name for cell in checkpoint.cells] == ["cell"]
