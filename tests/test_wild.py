"""Checkpoints from the wild: SavedModels (names in the object graph, configs in
keras_metadata.pb), renamed tensors (--rename, PyTorch alias names), per-variable copies
(--slot), and hints when nothing is found.

The committed fixtures (tests/fixtures/wild, written by make_wild_fixtures.py with Keras 3,
tf_keras and TF 1) are read without any framework; the tests marked `tensorflow`/`keras`
write them again live and check the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from split_checks import TOLERANCE, load_generator, load_split, modules_from_metadata

import grutool
from grutool.cells import CANONICAL_NAMES
from grutool.gru import run_cell, run_module
from grutool.slots import find_copies
from grutool.tensors import MemorySource, TensorInfo, TensorSource

WILD = FIXTURES / "wild"
GENERATOR = FIXTURES / "make_wild_fixtures.py"
README_RENAMES = ("--rename", r"^(enc|dec)_w_(ih|hh)$=\1.weight_\2_l0",
                  "--rename", r"^(enc|dec)_b_(ih|hh)$=\1.bias_\2_l0")

# (case folder, what to open, layer -> (module, merge of the two directions)).
SAVED_MODELS = {
    "k3_export": {"gru": ("gru", None), "bidirectional": ("bidirectional", "concat")},
    "tfk_saved_model": {"gru": ("gru", None), "bidi": ("bidi", "sum"), "back": ("back", None)},
}
EXPECTED_CELLS = {
    "k3_export": [("gru/gru_cell", "gru", "forward", True),
                  ("bidirectional/forward_gru/gru_cell", "bidirectional", "forward", False),
                  ("bidirectional/backward_gru/gru_cell", "bidirectional", "reverse", False)],
    "tfk_saved_model": [("gru/gru_cell", "gru", "forward", True),
                        ("bidi/forward_inner/gru_cell", "bidi", "forward", False),
                        ("bidi/backward_inner/gru_cell", "bidi", "reverse", False),
                        # go_backwards, from keras_metadata.pb: a reverse cell of its own
                        ("back/gru_cell", "back", "reverse", True)],
}


def _merge(outputs: np.ndarray, hidden: int, merge: str | None) -> np.ndarray:
    if merge in (None, "concat"):
        return outputs
    forward, backward = outputs[..., :hidden], outputs[..., hidden:]
    return {"sum": forward + backward, "mul": forward * backward,
            "ave": (forward + backward) / 2}[merge]


def check_saved_model(folder: Path, layers: dict, expected: list, tmp_path: Path) -> float:
    """Split the SavedModel, rebuild each module from the split file, run it on the layer's
    recorded input and compare with Keras's own output. Returns the largest error."""
    reference = np.load(folder / "reference.npz")
    out = tmp_path / f"{folder.name}.npz"
    grutool.split(folder / "saved_model", out)
    arrays, metadata = load_split(out)
    found = [(name, facts["module"], facts["direction"], facts["reset_after"])
             for name, facts in metadata["cells"].items()]
    assert sorted(found) == sorted(expected)
    for facts in metadata["cells"].values():  # the file's own keys, not the object-graph names
        assert all(".ATTRIBUTES/VARIABLE_VALUE" in name for name in facts["source_tensors"])
    modules = {module.name: module for module in modules_from_metadata(metadata)}
    worst = 0.0
    for layer, (module_name, merge) in layers.items():
        module = modules[module_name]
        weights = {cell.name: {part: arrays[f"{cell.name}/{part}"] for part in CANONICAL_NAMES
                               if f"{cell.name}/{part}" in arrays} for cell in module.cells}
        outputs = run_module(module, weights, reference[f"input/{layer}"].transpose(1, 0, 2))
        outputs = _merge(outputs, module.hidden_size, merge).transpose(1, 0, 2)
        if any(metadata["cells"][cell.name].get("outputs_time_reversed") for cell in module.cells):
            outputs = outputs[:, ::-1]  # a lone go_backwards GRU returns steps as it read them
        error = float(np.max(np.abs(outputs - reference[f"output/{layer}"])))
        assert error <= TOLERANCE, (folder.name, layer, error)
        worst = max(worst, error)
    return worst


@pytest.mark.parametrize("case", sorted(SAVED_MODELS))
def test_saved_model_layers_reproduce_keras(case: str, tmp_path: Path) -> None:
    check_saved_model(WILD / case, SAVED_MODELS[case], EXPECTED_CELLS[case], tmp_path)


def test_saved_model_directory_is_read_without_tensorflow() -> None:
    """The object graph and keras_metadata.pb are decoded by grutool itself (every SavedModel
    in one fresh interpreter: what it imports is the question, not a second start-up)."""
    code = ("import sys, grutool\n"
            "for path in sys.argv[1:]:\n"
            "    with grutool.open_checkpoint(path) as c:\n"
            "        assert len(c.cells) >= 3, (path, c.cells)\n"
            "        [c.canonical(cell) for cell in c.cells]\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'tf_keras', 'torch', 'google.protobuf')"
            " if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    paths = [str(WILD / case / "saved_model") for case in SAVED_MODELS]
    assert len(paths) >= 2
    subprocess.run([sys.executable, "-c", code, *paths], check=True,
                   env=dict(os.environ, PYTHONPATH=str(Path(grutool.__file__).parent.parent)))


def test_saved_model_inspect_names_and_configs(run_json) -> None:
    result, report = run_json("inspect", WILD / "tfk_saved_model" / "saved_model", "--no-stats")
    assert result.exit_code == 0, result.stderr
    cells = {cell["name"]: cell for cell in report["cells"]}
    # keras_metadata.pb's config, not the shapes, gives the activation.
    assert cells["gru/gru_cell"]["recurrent_activation"] == "hard_sigmoid"
    read_as = {t["name"]: t.get("read_as") for t in report["tensors"]}
    assert read_as["layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE"] \
        == "gru/gru_cell/kernel"
    with grutool.open_checkpoint(WILD / "tfk_saved_model" / "saved_model") as checkpoint:
        assert checkpoint.reading.hints.keras_layers["bidi"]["merge_mode"] == "sum"
    result, report = run_json("inspect", WILD / "k3_export" / "saved_model", "--no-stats")
    assert result.exit_code == 0
    assert [name for name in report["tensors"] if name["name"].startswith("variables/0/")][0][
        "read_as"] == "gru/gru_cell/kernel"
    assert any("keras_metadata.pb" in warning and "assumed" in warning
               for warning in report["warnings"])


def test_optimizer_moments_of_a_saved_model(run_json, tmp_path: Path) -> None:
    folder = WILD / "tfk_saved_model"
    result, report = run_json("inspect", folder / "saved_model", "--no-stats")
    assert [set(cell["copies"]) for cell in report["cells"]] == [{"m", "v"}] * 4
    reference = np.load(folder / "reference.npz")
    with grutool.open_checkpoint(folder / "saved_model", slot="m") as checkpoint:
        weights = checkpoint.canonical("gru/gru_cell")
        cell = checkpoint.cell("gru/gru_cell")
        assert all("optimizer/" in name for name in cell.source_tensors)
    kernel = reference["slot/m/gru/gru_cell/kernel"]
    np.testing.assert_array_equal(weights["W_iz"], kernel[:, :4])  # Keras order z, r, h
    np.testing.assert_array_equal(weights["W_ir"], kernel[:, 4:8])
    np.testing.assert_array_equal(weights["b_hn"], reference["slot/m/gru/gru_cell/bias"][1, 8:])


def _field(number: int, value: bytes) -> bytes:
    assert len(value) < 128
    return bytes([number << 3 | 2, len(value)]) + value


@pytest.mark.parametrize("metadata, message", [
    (b"\x0a\x05\x2a\x03{{{", "not valid JSON"),
    (b"\x0a\xff", "not a Keras SavedMetadata"),
    # A config that is no dict: no config, the shapes decide.
    (lambda: _field(1, _field(3, b"root.layer_with_weights-0")
                    + _field(5, b'{"class_name": "GRU", "config": 7}')), None),
])
def test_damaged_keras_metadata(tmp_path: Path, run, metadata: bytes, message: str | None) -> None:
    import shutil

    copy = tmp_path / "saved_model"
    shutil.copytree(WILD / "tfk_saved_model" / "saved_model", copy)
    (copy / "keras_metadata.pb").write_bytes(metadata() if callable(metadata) else metadata)
    result = run("inspect", copy, "--no-stats")
    if message is None:
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and "keras_metadata.pb" in result.stderr


def check_legacy_slots(folder: Path) -> None:
    reference = np.load(folder / "reference.npz")
    with grutool.open_checkpoint(folder) as checkpoint:
        (cell,) = checkpoint.cells
        assert cell.name == "gru/gru_cell"
        assert set(checkpoint.reading.cell_copies(cell)) == {"m", "v"}
    for slot in ("m", "v"):
        with grutool.open_checkpoint(folder, slot=slot) as checkpoint:
            (cell,) = checkpoint.cells
            assert all(f"/.OPTIMIZER_SLOT/optimizer/{slot}/" in n for n in cell.source_tensors)
            weights = checkpoint.canonical(cell)
        kernel = reference[f"slot/{slot}/gru/gru_cell/kernel"]
        np.testing.assert_array_equal(weights["W_iz"], kernel[:, :4])
        np.testing.assert_array_equal(weights["W_hn"],
                                      reference[f"slot/{slot}/gru/gru_cell/recurrent_kernel"][:, 8:])


def test_optimizer_slots_tied_by_the_object_graph() -> None:
    check_legacy_slots(WILD / "tfk_legacy_slots")


# --- TF 1 ExponentialMovingAverage -------------------------------------------------------------

def _tf1_outputs(path: Path, tmp_path: Path, *options: str) -> np.ndarray:
    from click.testing import CliRunner

    from grutool.cli import cli

    out = tmp_path / f"split{len(options)}.npz"
    result = CliRunner().invoke(cli, ["split", str(path), "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    arrays, metadata = load_split(out)
    (name,) = metadata["cells"]
    weights = {part: arrays[f"{name}/{part}"] for part in CANONICAL_NAMES
               if f"{name}/{part}" in arrays}
    x = np.load(path / "reference.npz")["x"]
    return run_cell(weights, x, reset_after=metadata["cells"][name]["reset_after"]), metadata


def check_tf1_ema(folder: Path, tmp_path: Path) -> None:
    reference = np.load(folder / "reference.npz")
    live, metadata = _tf1_outputs(folder, tmp_path)
    assert "slot" not in metadata
    assert float(np.max(np.abs(live - reference["output/live"]))) <= TOLERANCE
    shadows, metadata = _tf1_outputs(folder, tmp_path, "--slot", "ExponentialMovingAverage")
    assert float(np.max(np.abs(shadows - reference["output/ExponentialMovingAverage"]))) \
        <= TOLERANCE
    assert metadata["slot"] == "ExponentialMovingAverage"
    (cell,) = metadata["cells"].values()
    assert all(name.endswith("/ExponentialMovingAverage") for name in cell["source_tensors"])
    # The shadows really differ: reading them is not reading the weights.
    assert float(np.max(np.abs(shadows - live))) > 1e-3


def test_tf1_moving_averages(tmp_path: Path) -> None:
    check_tf1_ema(WILD / "tf1_ema", tmp_path)


def test_inspect_lists_the_copies(run, run_json) -> None:
    result, report = run_json("inspect", WILD / "tf1_ema", "--no-stats")
    (cell,) = report["cells"]
    assert set(cell["copies"]) == {"ExponentialMovingAverage", "Adam", "Adam_1"}
    assert cell["copies"]["ExponentialMovingAverage"][0] \
        == "rnn/gru_cell/gates/kernel/ExponentialMovingAverage"
    text = run("inspect", WILD / "tf1_ema").stdout
    assert "copies beside the weights: Adam, Adam_1, ExponentialMovingAverage" in " ".join(
        text.split())


def test_unknown_slot_is_a_usage_error(run) -> None:
    result = run("inspect", WILD / "tf1_ema", "--slot", "Momentum")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no copy 'Momentum'" in result.stderr
    assert "ExponentialMovingAverage" in result.stderr and "Adam_1" in result.stderr
    assert "tf1_ema" in result.stderr  # names the file
    result = run("split", WILD / "k3_export" / "saved_model", "--out", "never.npz",
                 "--slot", "m")
    assert result.exit_code == 2 and "no copies" in result.stderr


@pytest.mark.parametrize("command", ["inspect", "split", "convert", "verify", "check", "diff",
                                     "plot"])
def test_every_reading_command_takes_rename_and_slot(run, command: str) -> None:
    text = run(command, "--help").stdout
    assert "--rename" in text and "--slot" in text


# --- g2p-en's layout: PyTorch names with aliases ---------------------------------------------

def g2p_gru(x: np.ndarray, w_ih, w_hh, b_ih, b_hh) -> np.ndarray:
    """g2p-en's own GRU (g2p.py: grucell/gru): x @ W.T, rows r|z|n, n = tanh(n_ih + r * n_hh)."""
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    h = np.zeros((x.shape[0], w_hh.shape[1]), np.float32)
    outputs = []
    for t in range(x.shape[1]):
        rzn_ih = x[:, t] @ w_ih.T + b_ih
        rzn_hh = h @ w_hh.T + b_hh
        cut = rzn_ih.shape[-1] * 2 // 3
        rz = sigmoid(rzn_ih[:, :cut] + rzn_hh[:, :cut])
        r, z = np.split(rz, 2, -1)
        n = np.tanh(rzn_ih[:, cut:] + r * rzn_hh[:, cut:])
        h = (1 - z) * n + z * h
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.fixture(scope="module")
def g2p_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("g2p") / "checkpoint20.npz"
    load_generator(GENERATOR).g2p_like(path)
    return path


@pytest.mark.parametrize("options,names", [
    ((), {"enc": "enc", "dec": "dec"}),
    (README_RENAMES, {"enc": "enc.l0", "dec": "dec.l0"}),
])
def test_g2p_layout_reproduces_its_gru(g2p_file: Path, tmp_path: Path, run, options, names) -> None:
    out = tmp_path / "w.npz"
    result = run("split", g2p_file, "--out", out, *options)
    assert result.exit_code == 0, result.stderr
    arrays, metadata = load_split(out)
    assert set(metadata["cells"]) == set(names.values())
    raw = np.load(g2p_file)
    x = np.random.default_rng(3).uniform(-1, 1, size=(2, 9, 256)).astype(np.float32)
    for prefix, cell in names.items():
        facts = metadata["cells"][cell]
        assert facts["source_tensors"] == [f"{prefix}_w_ih", f"{prefix}_w_hh", f"{prefix}_b_ih",
                                           f"{prefix}_b_hh"]
        assert facts["reset_after"] is True and facts["layout"].startswith("pytorch-gru")
        weights = {part: arrays[f"{cell}/{part}"] for part in CANONICAL_NAMES}
        ours = run_cell(weights, x.transpose(1, 0, 2), reset_after=True).transpose(1, 0, 2)
        theirs = g2p_gru(x, *(raw[f"{prefix}_{n}"] for n in ("w_ih", "w_hh", "b_ih", "b_hh")))
        assert float(np.max(np.abs(ours - theirs))) <= TOLERANCE
    if options:
        assert metadata["rename"] == [options[1], options[3]]
    else:
        assert "rename" not in metadata


def test_g2p_aliases_are_a_naming_variant(g2p_file: Path, run_json) -> None:
    result, report = run_json("inspect", g2p_file, "--no-stats")
    assert result.exit_code == 0
    assert [cell["name"] for cell in report["cells"]] == ["enc", "dec"]  # file order
    assert report["cells"][0]["variant"] == "nn.GRUCell, alias names (enc_w_ih for enc.weight_ih)"


def test_rename_in_the_library(g2p_file: Path) -> None:
    rules = [r"^(enc|dec)_w_(ih|hh)$=\1.weight_\2_l0", r"^(enc|dec)_b_(ih|hh)$=\1.bias_\2_l0"]
    with grutool.open_checkpoint(g2p_file, rename=rules) as checkpoint:
        assert [cell.name for cell in checkpoint.cells] == ["enc.l0", "dec.l0"]  # file order: the encoder first
        assert checkpoint.cell("enc.l0").source_tensors[0] == "enc_w_ih"
        assert checkpoint.cell("enc.l0").roles["weight_ih"] == "enc.weight_ih_l0"
        # The reader's own source is untouched: the file's names, nothing written into it.
        assert "enc_w_ih" in checkpoint.source.infos and "enc.weight_ih_l0" not in checkpoint.source.infos


@pytest.mark.parametrize("names", [
    {"gru/weight_ih_l0": (12, 3), "gru/weight_hh_l0": (12, 4)},
    {"enc_weight_ih": (12, 3), "enc_weight_hh": (12, 4), "enc_bias_ih": (12,), "enc_bias_hh": (12,)},
    {"w_ih": (12, 3), "w_hh": (12, 4), "b_ih": (12,), "b_hh": (12,)},
])
def test_common_aliases_need_no_help(tmp_path: Path, names: dict) -> None:
    path = tmp_path / "a.npz"
    rng = np.random.default_rng(0)
    np.savez(path, **{name: rng.normal(size=shape).astype(np.float32) for name, shape in names.items()})
    with grutool.open_checkpoint(path) as checkpoint:
        (cell,) = checkpoint.cells
        assert (cell.input_size, cell.hidden_size) == (3, 4)
        assert "alias names" in cell.variant
        assert cell.source_tensors == list(names)


def test_aliases_with_keras_orientation_are_not_read_as_pytorch(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez(path, w_ih=np.zeros((3, 12), np.float32), w_hh=np.zeros((4, 12), np.float32))
    with grutool.open_checkpoint(path) as checkpoint:
        assert checkpoint.cells == []


@pytest.mark.parametrize("rule, message", [
    ("(enc=x", "missing )"),
    ("no-equals-sign", "REGEX=REPLACEMENT"),
    ("=x", "empty"),
    (r"^(enc)_w_ih$=\2", "invalid group reference"),
])
def test_bad_rename_is_a_usage_error(g2p_file: Path, run, rule: str, message: str) -> None:
    result = run("inspect", g2p_file, "--rename", rule)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_rename_that_merges_two_names_is_refused(g2p_file: Path, run) -> None:
    result = run("inspect", g2p_file, "--rename", "^(enc|dec)_=x_")
    assert result.exit_code == 2 and "would both be read as" in result.stderr


# --- hints when nothing is found --------------------------------------------------------------

def test_gru_shapes_under_meaningless_names_get_hints(tmp_path: Path, run, run_json) -> None:
    path = tmp_path / "weights.npz"
    rng = np.random.default_rng(1)
    arrays = {"p0": rng.normal(size=(12, 3)), "p1": rng.normal(size=(12, 4)),
              "p2": rng.normal(size=12), "p3": rng.normal(size=12), "emb": rng.normal(size=(10, 3))}
    np.savez(path, **{k: v.astype(np.float32) for k, v in arrays.items()})
    result, report = run_json("inspect", path)
    assert result.exit_code == 1 and report["cells"] == []
    (hint,) = report["hints"]
    assert hint["tensors"] == {"input_matrix": "p0", "recurrent_matrix": "p1",
                               "input_bias": "p2", "recurrent_bias": "p3"}
    assert (hint["input_size"], hint["hidden_size"], hint["orientation"]) == (3, 4, "W @ x")
    assert hint["layouts"] == ["pytorch-gru", "onnx-gru"]  # never one picked silently
    text = run("inspect", path)
    assert text.exit_code == 1
    pytorch = hint["readings"][0]
    assert pytorch["command_line"] in " ".join(text.stdout.split())
    assert "with a GRU's shapes" in text.stderr
    # The line is ready to paste: with it, the cell is read as that layout.
    with grutool.open_checkpoint(path, rename=pytorch["options"][1::2]) as checkpoint:
        (cell,) = checkpoint.cells
        assert cell.layout == "pytorch-gru" and cell.source_tensors == ["p0", "p1", "p2", "p3"]
        np.testing.assert_array_equal(checkpoint.canonical(cell)["W_hr"], arrays["p1"][:4].T
                                      .astype(np.float32))


def test_keras_shaped_tensors_get_keras_and_flax_hints(tmp_path: Path, run_json) -> None:
    path = tmp_path / "weights.npz"
    np.savez(path, a=np.ones((3, 12), np.float32), b=np.ones((4, 12), np.float32),
             c=np.ones(12, np.float32))
    result, report = run_json("inspect", path, "--no-stats")
    assert result.exit_code == 1 and not report["cells"]
    (hint,) = report["hints"]
    assert hint["orientation"] == "x @ W"
    # One [3H] bias beside x @ W matrices: Keras reset before, or flax.nnx reset after.
    assert hint["layouts"] == ["keras-gru", "flax-gru"]
    for reading in hint["readings"]:
        with grutool.open_checkpoint(path, rename=reading["options"][1::2]) as checkpoint:
            (cell,) = checkpoint.cells
            assert cell.layout == reading["layout"]


def test_no_hints_without_gru_shapes(tmp_path: Path, run_json) -> None:
    path = tmp_path / "weights.npz"
    np.savez(path, a=np.ones((5, 7), np.float32), b=np.ones(7, np.float32))
    result, report = run_json("inspect", path)
    assert result.exit_code == 1 and report["hints"] == []


# --- copies without files --------------------------------------------------------------------

def _infos(shapes: dict[str, tuple[int, ...]]) -> list[TensorInfo]:
    return [TensorInfo(name, shape, "float32") for name, shape in shapes.items()]


def test_copies_are_recognised_by_every_naming() -> None:
    copies = find_copies(_infos({
        "rnn/gru_cell/gates/kernel": (7, 8), "rnn/gru_cell/gates/kernel/Adam": (7, 8),
        "rnn/gru_cell/gates/kernel/Adam/ExponentialMovingAverage": (7, 8),
        "gru/gru_cell/kernel": (3, 12), "Adam/m/gru/gru_cell/kernel": (3, 12),
        "adam/gru_gru_cell_kernel_momentum": (3, 12),
        "l/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE": (2, 2),
        "l/cell/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE": (2, 2),
        # not copies: another shape, or a nested model's layer group
        "gru/gru_cell/kernel/odd": (5,),
        "layers/gru/cell/vars/0": (3, 12), "layers/sequential/layers/gru/cell/vars/0": (3, 12),
    }))
    assert copies == {
        "rnn/gru_cell/gates/kernel": {"Adam": "rnn/gru_cell/gates/kernel/Adam"},
        "gru/gru_cell/kernel": {"m": "Adam/m/gru/gru_cell/kernel",
                                "momentum": "adam/gru_gru_cell_kernel_momentum"},
        "l/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE": {
            "m": "l/cell/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"},
    }


class _Graphless(TensorSource):
    """A TF checkpoint whose object graph is damaged: its tensors keep their keys."""

    def __init__(self) -> None:
        super().__init__(path=Path("damaged"), format="tf-checkpoint")
        self.infos = {"_CHECKPOINTABLE_OBJECT_GRAPH": TensorInfo("_CHECKPOINTABLE_OBJECT_GRAPH",
                                                                 (), "string")}

    def read_strings(self, name: str) -> list[bytes]:
        return [b"\x0a\xff\xff"]  # a length running past the end


def test_a_damaged_object_graph_is_a_warning() -> None:
    from grutool.reading import ReadingOptions, read_cells

    reading = read_cells(_Graphless(), ReadingOptions())
    assert reading.recognition.cells == []
    assert "object graph does not parse" in reading.recognition.warnings[0]


def test_memory_sources_are_unchanged_by_the_view() -> None:
    from grutool.reading import ReadingOptions, read_cells

    source = MemorySource({"x.weight_ih_l0": np.zeros((6, 1), np.float32),
                           "x.weight_hh_l0": np.zeros((6, 2), np.float32)})
    reading = read_cells(source, ReadingOptions.make(rename=[r"^x\.=y."]))
    (cell,) = reading.recognition.cells
    assert cell.name == "y.l0" and cell.source_tensors == ["x.weight_ih_l0", "x.weight_hh_l0"]
    assert set(source.infos) == {"x.weight_ih_l0", "x.weight_hh_l0"}


# --- the same, written live by the frameworks -------------------------------------------------

def _regenerate(cases: list[str], out: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_USE_LEGACY_KERAS", None)
    if cases[0].startswith("k3_"):
        env["KERAS_BACKEND"] = "tensorflow"
    else:
        env["TF_USE_LEGACY_KERAS"] = "1"
    subprocess.run([sys.executable, str(GENERATOR), "--only", ",".join(cases), str(out)],
                   check=True, env=env, capture_output=True)


@pytest.mark.tensorflow
@pytest.mark.keras
def test_regenerated_fixtures_live(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    pytest.importorskip("tf_keras")
    _regenerate(["k3_export"], tmp_path)
    # tf_keras's default save (traced functions kept) keys the variables `variables/N`.
    _regenerate(["tfk_saved_model", "tfk_saved_model_traced", "tfk_legacy_slots", "tf1_ema"],
                tmp_path)
    for case in SAVED_MODELS:
        check_saved_model(tmp_path / case, SAVED_MODELS[case], EXPECTED_CELLS[case], tmp_path)
    traced = tmp_path / "tfk_saved_model_traced"
    with grutool.open_checkpoint(traced / "saved_model") as checkpoint:
        assert [cell.name for cell in checkpoint.cells] == [e[0] for e in EXPECTED_CELLS[
            "tfk_saved_model"]]
        assert checkpoint.cells[0].source_tensors[0].startswith("variables/")
    check_saved_model(traced, SAVED_MODELS["tfk_saved_model"], EXPECTED_CELLS["tfk_saved_model"],
                      tmp_path)
    check_legacy_slots(tmp_path / "tfk_legacy_slots")
    check_tf1_ema(tmp_path / "tf1_ema", tmp_path)


def test_fixture_readme_lists_every_case() -> None:
    text = (WILD / "README.md").read_text()
    cases = load_generator(GENERATOR).CASES
    for case in cases:
        assert case in text
    assert sorted(p.name for p in WILD.iterdir() if p.is_dir()) == sorted(cases)


def test_object_graph_walks_survive_cycles_and_bad_ids() -> None:
    from grutool.readers.tf_object_graph import decode_object_graph

    def reference(node: int, name: bytes) -> bytes:
        return bytes([0x08, node]) + _field(2, name)

    def child(node: int, name: bytes) -> bytes:
        return _field(1, reference(node, name))

    # node 0 -> 1 (a), 0 (self), 9 (no such node); node 1 -> 0 (back to the root)
    data = _field(1, child(1, b"a") + child(0, b"self") + child(9, b"bad")) + _field(1, child(0, b"up"))
    graph = decode_object_graph(data)
    assert graph.breadth_first() == [0, 1] and graph.depth_first() == [0, 1]
    assert graph.resolve("root.a.up.a") == 1 and graph.resolve("root.bad.x") is None
    assert graph.resolve("root.bad") is None
    with pytest.raises(ValueError):
        decode_object_graph(b"\x0a\x05\x0a\x03\x08")
