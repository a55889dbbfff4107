"""Golden tests (issue 10, "prove the model, not just the matrices"), framework-free.

Every committed fixture with outputs recorded by its real framework (TF 1 GRUCell and the
other TF cells, Keras 3 / tf_keras, PyTorch, ONNX Runtime, Flax) is converted with the public
CLI (`grutool convert SRC --to T --out FILE --module M`) to each of the four targets. An exact
conversion is then run by `golden_runners` — NumPy written from each target framework's
documented equations, keyed on its tensor names, sharing no code with grutool — and the whole
module's output (every layer, both directions) must match the source framework's recorded
output within 1e-5. A conversion that cannot be exact must be refused: exit 1, one line,
nothing written.

These tests carry no framework mark: they need only the `test` extra. Where grutool itself
needs an extra to *read* a source (`.pt`: torch, `.onnx`: onnx, `.msgpack`: msgpack) or to
*write* the onnx target (onnx), the case is skipped when that package is missing; the golden
ONNX runner is still checked in the default install against onnxruntime's recorded outputs
of the committed `.onnx` fixtures, which it reads with its own protobuf decoder.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import golden_runners
import numpy as np
import pytest
from conftest import FIXTURES
from golden_runners import RUNNERS, load_arrays

TOLERANCE = 1e-5
WRONG = 1e-3  # a deliberately wrong file must miss the reference by at least this much
TANH_SIGMOID = ("tanh", "sigmoid")
# What grutool needs to read a source of this suffix (grutool's own requirement, not the
# golden runners').
READ_NEEDS = {".pt": "torch", ".onnx": "onnx", ".msgpack": "msgpack"}


@dataclass(frozen=True)
class Source:
    """One module of a fixture file, the facts that decide which targets can take it, and
    where the source framework's output for it was recorded."""

    id: str
    path: Path
    module: str
    reference: Path
    output_key: str
    reset_after: bool
    activations: tuple[str, str] = TANH_SIGMOID  # (activation, recurrent_activation)
    reverse_only: bool = False  # one direction, read backwards (go_backwards, ONNX reverse)
    time_reversed: bool = False  # the recorded outputs come last-read step first
    merge: str | None = None  # how a bidirectional module combines its directions
    mixed_reset: bool = False  # layers of both reset placements in one module
    x_key: str = "x"
    batch_major: bool = False

    def reference_io(self) -> tuple[np.ndarray, np.ndarray]:
        """Input and recorded output, time-major."""
        with np.load(self.reference, allow_pickle=False) as data:
            x, y = data[self.x_key], data[self.output_key]
        if self.batch_major:
            x, y = np.transpose(x, (1, 0, 2)), np.transpose(y, (1, 0, 2))
        return x, y

    def read_needs(self) -> str | None:
        return READ_NEEDS.get(self.path.suffix)


TF, TF_OTHER = FIXTURES / "tf_gru_cell", FIXTURES / "tf_other_cells"
PT, ONNX, FLAX, KERAS = FIXTURES / "pytorch", FIXTURES / "onnx", FIXTURES / "flax", FIXTURES / "keras"


def tf_source(folder: Path, module: str, reset_after: bool = False) -> Source:
    return Source(f"{folder.parent.name}/{folder.name}", folder, module,
                  folder / "reference.npz", f"outputs/{module}", reset_after)


SOURCES = [
    tf_source(TF / "single", "rnn/gru_cell"),
    tf_source(TF / "stack2", "encoder/rnn/multi_rnn_cell"),
    tf_source(TF / "bidi", "birnn/bidirectional_rnn"),
    tf_source(TF / "tf0x_names", "RNN/MultiRNNCell"),
    tf_source(TF / "tf10_names", "rnn/gru_cell"),
    tf_source(TF / "untrained", "rnn/gru_cell"),
    tf_source(TF_OTHER / "gru_block_cell", "rnn/multi_rnn_cell"),
    tf_source(TF_OTHER / "cudnn_compatible", "stack_bidirectional_rnn", reset_after=True),
]


def keras_sources() -> list[Source]:
    """Every Keras module whose output Keras recorded and whose file tells enough to compute
    it (`numeric` in the case's expected.json: a weights-only file cannot tell activations or
    go_backwards)."""
    sources = []
    for case in sorted(p for p in KERAS.iterdir() if (p / "expected.json").is_file()):
        expected = json.loads((case / "expected.json").read_text())
        for file, found in expected["files"].items():
            for module in found["modules"]:
                if not module["numeric"]:
                    continue
                layer, layer_cells = module["keras_layer"], module["cells"]
                first = layer_cells[0]
                sources.append(Source(
                    f"{case.name}/{file}:{layer}", case / file, module["name"],
                    case / "reference.npz", f"output/{layer}", first["reset_after"],
                    (first["activation"], first["recurrent_activation"]),
                    reverse_only=all(c["direction"] == "reverse" for c in layer_cells),
                    time_reversed=any(c["outputs_time_reversed"] for c in layer_cells),
                    merge=module["merge"],
                    mixed_reset=len({c["reset_after"] for c in layer_cells}) > 1,
                    x_key=f"input/{layer}", batch_major=True))
    return sources


SOURCES += keras_sources()
SOURCES += [
    Source("pytorch/gru_bidir_2layer.safetensors", PT / "gru_bidir_2layer.safetensors", "gru",
           PT / "reference.npz", "gru_bidir_2layer/y", True),
    Source("pytorch/gru_nobias.safetensors", PT / "gru_nobias.safetensors", "gru",
           PT / "reference.npz", "gru_nobias/y", True),
    Source("pytorch/gru_cell.safetensors", PT / "gru_cell.safetensors", "cell",
           PT / "reference.npz", "gru_cell/y", True),
    Source("pytorch/batch_first.safetensors", PT / "batch_first.safetensors", "encoder",
           PT / "reference.npz", "batch_first/y", True),
    Source("pytorch/gru_bidir_2layer.pt", PT / "gru_bidir_2layer.pt", "gru",
           PT / "reference.npz", "gru_bidir_2layer/y", True),
    Source("pytorch/gru_nobias.pt", PT / "gru_nobias.pt", "gru",
           PT / "reference.npz", "gru_nobias/y", True),
    Source("pytorch/gru_cell_legacy.pt", PT / "gru_cell_legacy.pt", "cell",
           PT / "reference.npz", "gru_cell/y", True),
    Source("pytorch/batch_first_checkpoint.pt", PT / "batch_first_checkpoint.pt", "encoder",
           PT / "reference.npz", "batch_first/y", True),
    Source("onnx/torch_gru_bidir_2layer", ONNX / "torch_gru_bidir_2layer.onnx", "GRU",
           ONNX / "reference.npz", "torch_gru_bidir_2layer/y", True),
    Source("onnx/forward_lbr0", ONNX / "forward_lbr0.onnx", "gru",
           ONNX / "reference.npz", "forward_lbr0/y", False),
    Source("onnx/reverse_lbr1", ONNX / "reverse_lbr1.onnx", "gru",
           ONNX / "reference.npz", "reverse_lbr1/y", True, reverse_only=True),
    Source("onnx/bidirectional_const_bias", ONNX / "bidirectional_const_bias.onnx", "gru",
           ONNX / "reference.npz", "bidirectional_const_bias/y", False),
    Source("flax/rnn_gru_dotted.npz", FLAX / "rnn_gru_dotted.npz", "params.cell",
           FLAX / "reference.npz", "rnn_gru/y", True),
    Source("flax/rnn_gru.msgpack", FLAX / "rnn_gru.msgpack", "params/cell",
           FLAX / "reference.npz", "rnn_gru/y", True),
    Source("flax/bidirectional_gru.msgpack", FLAX / "bidirectional_gru.msgpack", "params/encoder",
           FLAX / "reference.npz", "bidirectional_gru/y", True),
    Source("flax/nnx_bidirectional_gru.msgpack", FLAX / "nnx_bidirectional_gru.msgpack", "encoder",
           FLAX / "reference.npz", "nnx_bidirectional_gru/y", True),
]

TARGETS = ("pytorch", "keras", "onnx", "tf")
# Output containers, cycled over the sources so that every one (and every way of carrying
# the metadata) is exercised.
TARGET_SUFFIXES = {"pytorch": (".safetensors", ".npz", ".h5"), "keras": (".npz", ".h5", ".safetensors"),
                   "onnx": (".onnx",), "tf": (".safetensors", ".h5", ".npz")}
EXACT, REFUSED, EXACT_OR_REFUSED = "exact", "refused", "exact or refused"
ONNX_ACTIVATIONS = {"tanh", "sigmoid", "relu", "hard_sigmoid"}


def expected_outcome(source: Source, target: str) -> str:
    """nn.GRU resets after the product, concatenates two directions and computes tanh/sigmoid;
    TF 1's GRUCell resets before and computes tanh/sigmoid gates; Keras and ONNX take both
    placements. ONNX has no Keras 3 hard_sigmoid by name (HardSigmoid with alpha 1/6 could
    express it): grutool may refuse that, or convert it exactly."""
    plain = source.activations == TANH_SIGMOID
    if target == "pytorch":
        return EXACT if (source.reset_after and not source.mixed_reset and plain
                         and not source.reverse_only
                         and source.merge in (None, "concat")) else REFUSED
    if target == "tf":
        return EXACT if not source.reset_after and not source.mixed_reset and plain else REFUSED
    if target == "onnx" and source.merge == "none":
        return REFUSED  # the directions stay apart, and the ONNX model has one output
    if target == "onnx" and not set(source.activations) <= ONNX_ACTIVATIONS:
        return EXACT_OR_REFUSED
    return EXACT


def _known_wrong(source: Source, target: str) -> str | None:
    """Conversions on this branch that the golden runners show to compute something else than
    the source model. The xfail is strict: once the conversion is fixed it fails, and the
    case is to be taken out here."""
    return None  # none today; the ONNX go_backwards reversal was the last one


def _params():
    params = []
    for index, source in enumerate(SOURCES):
        for target in TARGETS:
            suffixes = TARGET_SUFFIXES[target]
            marks = []
            reason = _known_wrong(source, target)
            if reason is not None and expected_outcome(source, target) != REFUSED:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(source, target, suffixes[index % len(suffixes)],
                                       id=f"{source.id}->{target}", marks=marks))
    return params


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _skip_unless_grutool_can(source: Source, target: str) -> None:
    needs = source.read_needs()
    if needs and not _has(needs):
        pytest.skip(f"grutool reads {source.path.suffix} only with {needs} installed")
    if target == "onnx" and not _has("onnx"):
        pytest.skip("grutool writes .onnx only with the onnx package installed")


def _max_error(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape, f"output shape {got.shape}, expected {expected.shape}"
    return float(np.max(np.abs(got - expected)))


def _convert(run, source: Source, target: str, out: Path):
    return run("convert", source.path, "--to", target, "--out", out, "--module", source.module)


@pytest.mark.parametrize("source, target, suffix", _params())
def test_converted_module_reproduces_the_source_framework(run, tmp_path, source, target, suffix):
    _skip_unless_grutool_can(source, target)
    outcome = expected_outcome(source, target)
    out = tmp_path / f"converted{suffix}"
    result = _convert(run, source, target, out)
    if outcome == REFUSED or (outcome == EXACT_OR_REFUSED and result.exit_code == 1):
        assert result.exit_code == 1, f"expected a refusal, got exit {result.exit_code}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot convert" in lines[0], result.stderr
        assert list(tmp_path.iterdir()) == [], "a refused conversion wrote something"
        return
    assert result.exit_code == 0, result.stderr
    x, expected = source.reference_io()
    got = RUNNERS[target](out, source.module, x)
    assert _max_error(got, expected) <= TOLERANCE


# --------------------------------------------------------------------------- the runners themselves

@pytest.mark.parametrize("stem, module", [("gru_bidir_2layer", "gru"), ("gru_nobias", ""),
                                          ("batch_first", "encoder")])
def test_golden_pytorch_runner_reproduces_torch_on_its_own_files(stem, module):
    """The committed nn.GRU state dicts, run by the golden runner, give torch's outputs."""
    with np.load(PT / "reference.npz", allow_pickle=False) as data:
        x, expected = data["x"], data[f"{stem}/y"]
    got = golden_runners.run_pytorch(PT / f"{stem}.safetensors", module, x)
    assert _max_error(got, expected) <= TOLERANCE


def _onnx_y(y: np.ndarray) -> np.ndarray:
    """A bare GRU node's Y [T, D, B, H] as [T, B, D*H] (what reference.npz records)."""
    return y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1) if y.ndim == 4 else y


@pytest.mark.parametrize("stem", ["forward_lbr0", "reverse_lbr1", "bidirectional_const_bias",
                                  "torch_gru_bidir_2layer"])
def test_golden_onnx_runner_reproduces_onnxruntime_on_the_fixtures(stem):
    """Without the onnx package: the committed models (torch's exporter graph among them),
    decoded and run by the golden runner, give onnxruntime's recorded outputs."""
    with np.load(ONNX / "reference.npz", allow_pickle=False) as data:
        x, expected = data["x"], data[f"{stem}/y"]
    got = _onnx_y(golden_runners.run_onnx(ONNX / f"{stem}.onnx", x))
    assert _max_error(got, expected) <= TOLERANCE


PT_SOURCE = next(s for s in SOURCES if s.id == "pytorch/gru_bidir_2layer.safetensors")
TF_BIDI = next(s for s in SOURCES if s.id == "tf_gru_cell/bidi")
KERAS_BIDI = next(s for s in SOURCES if s.id == "k3_bidirectional/model.weights.h5:bidirectional")


def _write_npz(path: Path, arrays: dict[str, np.ndarray], metadata: dict | None) -> None:
    extra = {} if metadata is None else {"__grutool__": np.array(json.dumps(metadata))}
    np.savez(path, **extra, **arrays)


@pytest.mark.parametrize("merge", [None, "concat", "sum", "mul", "ave"])
def test_golden_keras_runner_merges_directions_as_the_metadata_says(run, tmp_path, merge):
    """A module's `merge` (absent: concat) combines the forward and reverse outputs, here
    checked against the halves of Keras's concatenated output."""
    good = tmp_path / "good.npz"
    assert _convert(run, KERAS_BIDI, "keras", good).exit_code == 0
    arrays, metadata = load_arrays(good)
    (module,) = metadata["modules"]
    module.pop("merge", None)
    if merge is not None:
        module["merge"] = merge
    merged = tmp_path / "merged.npz"
    _write_npz(merged, arrays, metadata)
    x, concat = KERAS_BIDI.reference_io()
    forward, backward = np.split(concat, 2, axis=-1)
    expected = {None: concat, "concat": concat, "sum": forward + backward,
                "mul": forward * backward, "ave": (forward + backward) / 2}[merge]
    assert _max_error(RUNNERS["keras"](merged, KERAS_BIDI.module, x), expected) <= TOLERANCE


# --------------------------------------------------------------------------- they can fail

def _swap_blocks(array: np.ndarray, axis: int, blocks: int, a: int, b: int) -> np.ndarray:
    """`array` with its gate blocks `a` and `b` (of `blocks` equal ones along `axis`) swapped."""
    parts = np.split(np.asarray(array), blocks, axis=axis)
    parts[a], parts[b] = parts[b], parts[a]
    return np.concatenate(parts, axis=axis)


def _good_and_wrong(run, tmp_path: Path, source: Source, target: str, corrupt) -> tuple[float, float]:
    """The golden error of a correct conversion and of the same file after `corrupt`."""
    good = tmp_path / "good.npz"
    assert _convert(run, source, target, good).exit_code == 0
    arrays, metadata = load_arrays(good)
    wrong = tmp_path / "wrong.npz"
    _write_npz(wrong, *corrupt(dict(arrays), json.loads(json.dumps(metadata))))
    x, expected = source.reference_io()
    return (_max_error(RUNNERS[target](good, source.module, x), expected),
            _max_error(RUNNERS[target](wrong, source.module, x), expected))


def test_golden_pytorch_runner_fails_on_swapped_r_and_z(run, tmp_path):
    def corrupt(arrays, metadata):
        for key in [k for k in arrays if k.startswith("gru.") and k.endswith("_l1_reverse")]:
            arrays[key] = _swap_blocks(arrays[key], 0, 3, 0, 1)  # rows r | z | n
        return arrays, metadata

    good, wrong = _good_and_wrong(run, tmp_path, PT_SOURCE, "pytorch", corrupt)
    assert good <= TOLERANCE and wrong > WRONG


def test_golden_keras_runner_fails_on_swapped_z_and_r(run, tmp_path):
    def corrupt(arrays, metadata):
        prefix = metadata["cells"]["layers/bidirectional/forward_layer/cell"].get(
            "target_prefix", "layers/bidirectional/forward_layer/cell")
        for key in ("kernel", "recurrent_kernel", "bias"):
            arrays[f"{prefix}/{key}"] = _swap_blocks(arrays[f"{prefix}/{key}"], -1, 3, 0, 1)
        return arrays, metadata

    good, wrong = _good_and_wrong(run, tmp_path, KERAS_BIDI, "keras", corrupt)
    assert good <= TOLERANCE and wrong > WRONG


def test_golden_keras_runner_fails_on_the_wrong_reset_placement(run, tmp_path):
    """A [2, 3H] bias folded into one row and read as reset-before: loads, computes otherwise."""
    def corrupt(arrays, metadata):
        for name, facts in metadata["cells"].items():
            prefix = facts.get("target_prefix", name)
            arrays[f"{prefix}/bias"] = arrays[f"{prefix}/bias"].sum(axis=0)
            facts["reset_after"] = False
        return arrays, metadata

    good, wrong = _good_and_wrong(run, tmp_path, KERAS_BIDI, "keras", corrupt)
    assert good <= TOLERANCE and wrong > WRONG


def test_golden_tf_runner_fails_on_swapped_r_and_u(run, tmp_path):
    def corrupt(arrays, metadata):
        prefix = metadata["cells"]["birnn/bidirectional_rnn/bw/gru_cell"].get(
            "target_prefix", "birnn/bidirectional_rnn/bw/gru_cell")
        for key in ("gates/kernel", "gates/bias"):
            arrays[f"{prefix}/{key}"] = _swap_blocks(arrays[f"{prefix}/{key}"], -1, 2, 0, 1)
        return arrays, metadata

    good, wrong = _good_and_wrong(run, tmp_path, TF_BIDI, "tf", corrupt)
    assert good <= TOLERANCE and wrong > WRONG


def test_golden_tf_runner_fails_on_swapped_directions(run, tmp_path):
    """The metadata's structure is what the runner builds: forward and reverse exchanged."""
    def corrupt(arrays, metadata):
        cells = metadata["cells"]
        fw, bw = "birnn/bidirectional_rnn/fw/gru_cell", "birnn/bidirectional_rnn/bw/gru_cell"
        cells[fw]["direction"], cells[bw]["direction"] = "reverse", "forward"
        return arrays, metadata

    good, wrong = _good_and_wrong(run, tmp_path, TF_BIDI, "tf", corrupt)
    assert good <= TOLERANCE and wrong > WRONG


def test_golden_onnx_runner_fails_on_swapped_z_and_r(tmp_path):
    """The committed forward_lbr0.onnx with W's z and r blocks exchanged in place (same bytes,
    other order), so no onnx package is needed to write it."""
    model = ONNX / "forward_lbr0.onnx"
    raw = golden_runners.onnx_initializer_bytes(model, "W")
    w = np.frombuffer(raw, dtype="<f4").reshape(1, 12, 3)
    swapped = _swap_blocks(w, 1, 3, 0, 1).astype("<f4").tobytes()
    data = model.read_bytes()
    assert data.count(raw) == 1 and swapped != raw
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(data.replace(raw, swapped))
    with np.load(ONNX / "reference.npz", allow_pickle=False) as reference:
        x, expected = reference["x"], reference["forward_lbr0/y"]
    assert _max_error(_onnx_y(golden_runners.run_onnx(model, x)), expected) <= TOLERANCE
    assert _max_error(_onnx_y(golden_runners.run_onnx(wrong, x)), expected) > WRONG
