"""`convert`: every source family in the fixtures to every target that can take it exactly,
loaded into the REAL target framework and run on the fixture input, compared with the
source framework's own recorded output (<= 1e-5). Inexact pairs are refused: exit 1, nothing
written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, KERAS
from framework_runners import RUNNERS

import grutool
from grutool.cells import structure_difference

TOLERANCE = 1e-5


@dataclass(frozen=True)
class Source:
    """A fixture: the file, one module in it, and the source framework's output."""

    id: str
    path: Path
    module: str
    reset_after: bool
    reference: Path
    x_key: str = "x"
    output_key: str = ""
    batch_major: bool = False

    @property
    def marks(self) -> list:
        """Reading .pt needs torch and .onnx needs onnx, whatever the target."""
        return {".pt": [pytest.mark.torch], ".onnx": [pytest.mark.onnx],
                ".msgpack": [pytest.mark.flax]}.get(self.path.suffix, [])

    def reference_io(self) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.reference, allow_pickle=False) as data:
            x, y = data[self.x_key], data[self.output_key or f"outputs/{self.module}"]
        if self.batch_major:
            x, y = np.transpose(x, (1, 0, 2)), np.transpose(y, (1, 0, 2))
        return x, y


TF = FIXTURES / "tf_gru_cell"
SOURCES = [
    Source("tf-single", TF / "single", "rnn/gru_cell", False, TF / "single" / "reference.npz"),
    Source("tf-stack2", TF / "stack2", "encoder/rnn/multi_rnn_cell", False,
           TF / "stack2" / "reference.npz"),
    Source("tf-bidi", TF / "bidi", "birnn/bidirectional_rnn", False, TF / "bidi" / "reference.npz"),
    Source("tf0x-stack", TF / "tf0x_names", "RNN/MultiRNNCell", False,
           TF / "tf0x_names" / "reference.npz"),
]


def keras_source(case: str, file: str, module: str, layer: str, reset_after: bool) -> Source:
    """A Keras fixture module; its reference is batch-major, keyed by the Keras layer name."""
    return Source(f"{case}/{file}:{layer}", KERAS / case / file, module, reset_after,
                  KERAS / case / "reference.npz", x_key=f"input/{layer}",
                  output_key=f"output/{layer}", batch_major=True)


SOURCES += [
    keras_source("k3_reset_after", "model.keras", "layers/gru", "gru", True),
    keras_source("k3_reset_before", "model.weights.h5", "layers/gru", "gru", False),
    keras_source("k3_bidirectional", "model.keras", "layers/bidirectional", "bidirectional", True),
    keras_source("k3_stacked", "model.keras", "layers/gru_1", "upper", False),
    keras_source("tfk_model", "model.h5", "bidi", "bidi", True),
    keras_source("tfk_model", "weights.h5", "gru", "gru", True),
    keras_source("tfk_cudnn", "model.h5", "cudnn_gru", "cudnn_gru", True),
]
PT, ONNX, TF_OTHER = FIXTURES / "pytorch", FIXTURES / "onnx", FIXTURES / "tf_other_cells"
SOURCES += [
    Source("pt-bidi-2layer", PT / "gru_bidir_2layer.safetensors", "gru", True,
           PT / "reference.npz", output_key="gru_bidir_2layer/y"),
    Source("pt-bidi-2layer.pt", PT / "gru_bidir_2layer.pt", "gru", True,
           PT / "reference.npz", output_key="gru_bidir_2layer/y"),
    Source("pt-nobias", PT / "gru_nobias.safetensors", "gru", True, PT / "reference.npz",
           output_key="gru_nobias/y"),
    Source("onnx-torch-bidi-2layer", ONNX / "torch_gru_bidir_2layer.onnx", "GRU", True,
           ONNX / "reference.npz", output_key="torch_gru_bidir_2layer/y"),
    Source("onnx-lbr0", ONNX / "forward_lbr0.onnx", "gru", False, ONNX / "reference.npz",
           output_key="forward_lbr0/y"),
    Source("tf-block-cell", TF_OTHER / "gru_block_cell", "rnn/multi_rnn_cell", False,
           TF_OTHER / "gru_block_cell" / "reference.npz"),
    Source("tf-cudnn-compatible", TF_OTHER / "cudnn_compatible", "stack_bidirectional_rnn", True,
           TF_OTHER / "cudnn_compatible" / "reference.npz"),
]
FLAX = FIXTURES / "flax"
SOURCES += [
    Source("flax-linen", FLAX / "rnn_gru_dotted.npz", "params.cell", True, FLAX / "reference.npz",
           output_key="rnn_gru/y"),
    Source("flax-linen-bidi", FLAX / "bidirectional_gru.msgpack", "params/encoder", True,
           FLAX / "reference.npz", output_key="bidirectional_gru/y"),
    Source("flax-nnx-bidi", FLAX / "nnx_bidirectional_gru.msgpack", "encoder", True,
           FLAX / "reference.npz", output_key="nnx_bidirectional_gru/y"),
]
TARGET_SUFFIX = {"pytorch": ".safetensors", "keras": ".npz", "onnx": ".onnx", "tf": ".npz"}
EXACT = {"pytorch": (True,), "keras": (False, True), "onnx": (False, True), "tf": (False,)}
MARKS = {"pytorch": pytest.mark.torch, "keras": pytest.mark.keras, "onnx": pytest.mark.onnx,
         "tf": pytest.mark.tensorflow}

EXACT_PAIRS = [pytest.param(source, target, id=f"{source.id}->{target}",
                             marks=[MARKS[target], *source.marks])
               for source in SOURCES for target in EXACT if source.reset_after in EXACT[target]]
INEXACT_PAIRS = [pytest.param(source, target, id=f"{source.id}->{target}", marks=source.marks)
                 for source in SOURCES for target in EXACT if source.reset_after not in EXACT[target]]


def _convert(run, source: Source, target: str, out: Path, *extra: str):
    args = ["convert", source.path, "--to", target, "--out", out, "--json",
            "--module", source.module, *extra]
    return run(*args)


@pytest.mark.parametrize("source, target", EXACT_PAIRS)
def test_converted_file_runs_in_the_target_framework(run, tmp_path, source, target):
    out = tmp_path / f"converted{TARGET_SUFFIX[target]}"
    result = _convert(run, source, target, out)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verification"]["ok"] and report["verification"]["max_abs_error"] <= TOLERANCE
    x, expected = source.reference_io()
    module = source.module
    got = RUNNERS[target](out, module, x)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    # Read back as any file is, the converted file holds the source module's structure.
    with grutool.open_checkpoint(source.path) as original, grutool.open_checkpoint(out) as copy:
        (source_module,) = [m for m in original.modules if m.name == source.module]
        (converted_module,) = copy.modules
        assert structure_difference(source_module, converted_module) is None
        if source_module.bidirectional and source_module.merge is not None:
            assert converted_module.merge == source_module.merge


@pytest.mark.parametrize("source, target", INEXACT_PAIRS)
def test_inexact_conversion_is_refused_and_writes_nothing(run, tmp_path, source, target):
    out = tmp_path / f"converted{TARGET_SUFFIX[target]}"
    result = _convert(run, source, target, out)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "reset gate" in line and "--allow-inexact" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source, target", INEXACT_PAIRS[:2])
def test_allow_inexact_writes_and_reports_the_error(run, tmp_path, source, target):
    out = tmp_path / f"converted{TARGET_SUFFIX[target]}"
    result = _convert(run, source, target, out, "--allow-inexact")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["inexact_cells"]
    # Reset before and after are different functions: the measured error is not small.
    assert report["verification"]["max_abs_error"] > 1e-3
    assert out.exists()


def test_verify_pairs_a_checkpoint_with_its_conversion(run, tmp_path):
    out = tmp_path / "tf.npz"
    assert run("convert", TF / "stack2", "--to", "tf", "--out", out).exit_code == 0
    result = run("verify", TF / "stack2", out, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True


def test_verify_fails_on_a_wrong_hand_conversion(run, tmp_path):
    """A user who swapped r and z by hand is told so, with exit 1."""
    split = tmp_path / "w.npz"
    assert run("split", TF / "single", "--out", split).exit_code == 0
    with np.load(split, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    for part in ("W_i", "W_h", "b_i"):
        arrays[f"rnn/gru_cell/{part}r"], arrays[f"rnn/gru_cell/{part}z"] = (
            arrays[f"rnn/gru_cell/{part}z"], arrays[f"rnn/gru_cell/{part}r"])
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **arrays)
    result = run("verify", TF / "single", wrong)
    assert result.exit_code == 1
    assert "differ" in result.stderr


def test_verify_names_the_structural_difference(run):
    result = run("verify", TF / "single", TF / "stack2")
    assert result.exit_code == 1
    assert "rnn/gru_cell has 1 layer and encoder/rnn/multi_rnn_cell 2 layers" in result.stderr


def test_onnx_needs_a_module_when_there_are_several(run, tmp_path):
    split = tmp_path / "two.npz"
    # two lone cells in one file: two modules
    arrays = {}
    for name in ("a", "b"):
        for part, shape in (("W_ir", (3, 4)), ("W_iz", (3, 4)), ("W_in", (3, 4)),
                            ("W_hr", (4, 4)), ("W_hz", (4, 4)), ("W_hn", (4, 4))):
            arrays[f"{name}/{part}"] = np.zeros(shape, np.float32)
    np.savez(split, **arrays)
    result = run("convert", split, "--to", "onnx", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 2 and "--module" in result.stderr


ACTIVATIONS = keras_source("tfk_model", "model.h5", "g_before", "g_before", False)


@pytest.mark.keras
def test_keras_activations_survive_a_keras_conversion(run, tmp_path):
    out = tmp_path / "k.npz"
    result = _convert(run, ACTIVATIONS, "keras", out)
    assert result.exit_code == 0, result.stderr
    x, expected = ACTIVATIONS.reference_io()
    assert np.max(np.abs(RUNNERS["keras"](out, ACTIVATIONS.module, x) - expected)) <= TOLERANCE


@pytest.mark.parametrize("target", ["pytorch", "tf"])
def test_activations_a_target_cannot_compute_are_refused(run, tmp_path, target):
    result = _convert(run, ACTIVATIONS, target, tmp_path / f"out{TARGET_SUFFIX[target]}")
    assert result.exit_code == 1
    assert "relu/hard_sigmoid" in result.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.torch
def test_pytorch_target_writes_a_pt_state_dict_torch_loads_safely(run, tmp_path):
    source = keras_source("k3_reset_after", "model.keras", "layers/gru", "gru", True)
    out = tmp_path / "state.pt"
    result = _convert(run, source, "pytorch", out)
    assert result.exit_code == 0, result.stderr
    x, expected = source.reference_io()
    assert np.max(np.abs(RUNNERS["pytorch"](out, source.module, x) - expected)) <= TOLERANCE


@pytest.mark.tensorflow
@pytest.mark.parametrize("source", [
    keras_source("k3_reset_before", "model.keras", "layers/gru", "gru", False),
    pytest.param(Source("onnx-lbr0", ONNX / "forward_lbr0.onnx", "gru", False,
                        ONNX / "reference.npz", output_key="forward_lbr0/y"),
                 marks=pytest.mark.onnx, id="onnx-lbr0"),
], ids=lambda s: s.id)
def test_tf_target_writes_a_real_checkpoint(run, tmp_path, source):
    out = tmp_path / "model.ckpt"
    result = _convert(run, source, "tf", out)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.ckpt.data-00000-of-00001", "model.ckpt.index"]
    x, expected = source.reference_io()
    assert np.max(np.abs(RUNNERS["tf"](out, source.module, x) - expected)) <= TOLERANCE
    # grutool's own reader takes it back, and refuses to overwrite it without --force
    assert run("verify", source.path, out).exit_code == 0
    again = _convert(run, source, "tf", out)
    assert again.exit_code == 2 and "--force" in again.stderr
