"""Run a converted file in the real target framework; every runner returns the module's
output time-major, [time, batch, directions * units], directions concatenated forward first.

The structure (layers, directions, reset placement) comes from the file's own `__grutool__`
metadata where the target file carries no structure of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors and grutool metadata of a converted .npz / .safetensors / .h5 file."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        return arrays, json.loads(str(arrays.pop("__grutool__")))
    if path.suffix == ".ckpt":  # a real TF checkpoint: read it back with TensorFlow itself
        tf = pytest.importorskip("tensorflow")
        reader = tf.train.load_checkpoint(str(path))
        arrays = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
        return arrays, json.loads(arrays.pop("__grutool__").decode())
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            metadata = json.loads(handle.metadata()["__grutool__"])
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata
    import h5py

    with h5py.File(path, "r") as handle:
        arrays = {}
        handle.visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                          if isinstance(obj, h5py.Dataset) else None)
        return arrays, json.loads(handle.attrs["__grutool__"])


def _module_meta(metadata: dict, module: str) -> dict:
    (meta,) = [m for m in metadata["modules"] if m["name"] == module]
    return meta


def _layers(metadata: dict, module: str) -> list[list[tuple[str, dict]]]:
    """[(cell name, facts)] per layer, bottom first, forward before reverse."""
    cells = [(name, metadata["cells"][name]) for name in _module_meta(metadata, module)["cells"]]
    by_layer: dict[int, list] = {}
    for name, facts in cells:
        by_layer.setdefault(facts["layer"], []).append((name, facts))
    return [sorted(by_layer[k], key=lambda c: c[1]["direction"] != "forward") for k in sorted(by_layer)]


def run_pytorch(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    torch = pytest.importorskip("torch")
    if path.suffix == ".pt":
        state = torch.load(path, weights_only=True)
        metadata = None
    else:
        arrays, metadata = load_arrays(path)
        state = {key: torch.from_numpy(np.array(value)) for key, value in arrays.items()}
    prefix = module + "."
    state = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    layers = 1 + max(int(key.split("_l")[-1].split("_")[0]) for key in state)
    bidirectional = any(key.endswith("_reverse") for key in state)
    hidden = state["weight_hh_l0"].shape[1]
    gru = torch.nn.GRU(state["weight_ih_l0"].shape[1], hidden, num_layers=layers,
                       bidirectional=bidirectional, bias="bias_ih_l0" in state)
    gru.load_state_dict(state, strict=True)
    with torch.no_grad():
        output, _ = gru(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return output.numpy()


def run_keras(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    keras = pytest.importorskip("keras")
    arrays, metadata = load_arrays(path)
    layer_input = np.transpose(x, (1, 0, 2)).astype(np.float32)  # Keras is batch-major
    for layer_cells in _layers(metadata, module):
        outputs = []
        for _name, facts in layer_cells:
            reverse = facts["direction"] == "reverse"
            layer = keras.layers.GRU(facts["hidden_size"], return_sequences=True,
                                     reset_after=facts["reset_after"], go_backwards=reverse,
                                     activation=_keras3_activation(keras, facts["activation"]),
                                     recurrent_activation=_keras3_activation(
                                         keras, facts["recurrent_activation"]))
            layer.build(layer_input.shape)
            prefix = facts["target_prefix"]
            layer.set_weights([arrays[f"{prefix}/kernel"], arrays[f"{prefix}/recurrent_kernel"],
                               arrays[f"{prefix}/bias"]])
            result = np.asarray(layer(layer_input))
            outputs.append(result[:, ::-1] if reverse else result)  # go_backwards emits reversed
        layer_input = np.concatenate(outputs, axis=-1)
    return np.transpose(layer_input, (1, 0, 2))


def _keras3_activation(keras, name: str):
    """Keras 3's `hard_sigmoid` is clip(x/6 + 1/2); Keras 2's (grutool: `hard_sigmoid`) is
    clip(0.2x + 1/2), which Keras 3 takes only as a custom function."""
    if name == "hard_sigmoid":
        return lambda v: keras.ops.clip(0.2 * v + 0.5, 0.0, 1.0)
    return "hard_sigmoid" if name == "hard_sigmoid_keras3" else name


def run_onnx(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(["Y"], {"X": np.ascontiguousarray(x, dtype=np.float32)})
    return output


def run_tf(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    """TF 1 GRUCell (tf.compat.v1 / tf_keras), stepped eagerly with the file's variables."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    tf = pytest.importorskip("tensorflow")
    tf_keras = pytest.importorskip("tf_keras")
    from tf_keras.src.layers.rnn.legacy_cells import GRUCell

    arrays, metadata = load_arrays(path)
    layer_input = x.astype(np.float32)
    del tf_keras
    for layer_cells in _layers(metadata, module):
        outputs = []
        for _name, facts in layer_cells:
            scope = facts["target_prefix"]
            cell = GRUCell(facts["hidden_size"])
            cell.build((None, layer_input.shape[-1]))
            cell.set_weights([arrays[f"{scope}/gates/kernel"], arrays[f"{scope}/gates/bias"],
                              arrays[f"{scope}/candidate/kernel"], arrays[f"{scope}/candidate/bias"]])
            state = tf.zeros((layer_input.shape[1], facts["hidden_size"]))
            steps = range(layer_input.shape[0])
            result = [None] * layer_input.shape[0]
            for t in (reversed(steps) if facts["direction"] == "reverse" else steps):
                output, state = cell(tf.constant(layer_input[t]), state)
                result[t] = np.asarray(output)
            outputs.append(np.stack(result))
        layer_input = np.concatenate(outputs, axis=-1)
    return layer_input


RUNNERS = {"pytorch": run_pytorch, "keras": run_keras, "onnx": run_onnx, "tf": run_tf}
