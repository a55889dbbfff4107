"""Golden runners: what each conversion target's own GRU computes from a converted file,
written in NumPy from that framework's *documented equations* and keyed on its *tensor names*.

They run in the default install (numpy, h5py, safetensors): no torch, tensorflow, keras,
onnx or onnxruntime. They are deliberately independent of grutool: this module imports
nothing from `grutool` (not its gates, families, targets, reference GRU nor readers). The
`.onnx` protobuf is decoded here by a small wire-format decoder (ModelProto.graph → nodes,
initializers with raw_data or typed data, attributes); neither the `onnx` package nor
grutool's ONNX reader is used.

Conventions, for every runner:
- input `x` is time-major `[time, batch, features]`, the output likewise
  `[time, batch, features]` (the ONNX runner returns whatever the graph's output is);
- the initial state is zero;
- arithmetic is float64, so the runner adds no rounding error of its own;
- a bidirectional layer's outputs are combined forward first (concatenated, unless the
  file's metadata names another `merge`), and layer k+1 reads layer k's combined output.

Which parts come from where:
- pytorch: structure from the tensor names alone (`[<module>.]weight_ih_l{k}[_reverse]`, …),
  as `nn.GRU.load_state_dict` would have it; nn.GRU can only concatenate directions.
- keras, tf: the target's tensors hold no structure, so layers, directions, reset placement,
  activations, `merge` and `outputs_time_reversed` come from the file's `__grutool__` metadata
  (its documented fields: `modules[] = {name, cells, merge?}`, `cells{name: {layer, direction,
  reset_after, activation, recurrent_activation, outputs_time_reversed?, target_prefix?}}`); a
  missing `merge` means concat, a missing `target_prefix` means `target_name` or else the
  cell's own name.
- onnx: the graph itself (nodes run in file order, which ONNX requires to be topological).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METADATA_KEY = "__grutool__"


# --------------------------------------------------------------------------- reading files

def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict | None]:
    """Every array in a `.npz`, `.h5` or `.safetensors` file, and its `__grutool__` metadata
    (npz: 0-d string array; h5: root attribute; safetensors: header metadata), or None."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        raw = arrays.pop(METADATA_KEY, None)
        return arrays, None if raw is None else json.loads(str(raw))
    if suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}
            raw = (handle.metadata() or {}).get(METADATA_KEY)
        return arrays, None if raw is None else json.loads(raw)
    if suffix in (".h5", ".hdf5"):
        import h5py

        arrays = H5Arrays()
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                              if isinstance(obj, h5py.Dataset) else None)
            raw = handle.attrs.get(METADATA_KEY)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        return arrays, None if raw is None else json.loads(raw)
    raise ValueError(f"{path}: no golden reader for {suffix!r}")


class H5Arrays(dict):
    """Datasets of an HDF5 file by path. HDF5 names are paths: `/GRU/kernel` and `GRU/kernel`
    are one dataset (h5py finds it by either), so lookups normalise the name as HDF5 does."""

    @staticmethod
    def normalize(name: str) -> str:
        return re.sub("/+", "/", name).lstrip("/")

    def __getitem__(self, key: str) -> np.ndarray:
        return super().__getitem__(self.normalize(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(self.normalize(key))


def _f64(array: Any) -> np.ndarray:
    return np.asarray(array, dtype=np.float64)


# --------------------------------------------------------------------------- activations

def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # = 1 / (1 + exp(-v)), without overflow


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    # Keras 2 / tf_keras: clip(0.2 x + 0.5, 0, 1)
    "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0.0, 1.0),
    # Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)
    "hard_sigmoid_keras3": lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0),
    "relu": lambda v: np.maximum(v, 0.0),
    "linear": lambda v: v,
    "elu": lambda v: np.where(v > 0, v, np.exp(np.minimum(v, 0.0)) - 1.0),
    "softsign": lambda v: v / (1.0 + np.abs(v)),
    "softplus": lambda v: np.log1p(np.exp(-np.abs(v))) + np.maximum(v, 0.0),
}


def _keras_relu(max_value: float | None = None, negative_slope: float = 0.0,
                threshold: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Keras's ReLU layer as its documentation states it: max_value for x >= max_value, x for
    threshold <= x < max_value, negative_slope * (x - threshold) otherwise."""
    def relu(v: np.ndarray) -> np.ndarray:
        out = np.where(v >= threshold, v, negative_slope * (v - threshold))
        return out if max_value is None else np.where(v >= max_value, max_value, out)
    return relu


# grutool's parametrised names, `family(key=value,…)`, computed from each framework's docs.
PARAMETRISED_ACTIVATIONS: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "relu": _keras_relu,
    "elu": lambda alpha=1.0: (lambda v: np.where(v > 0, v, alpha * (np.exp(np.minimum(v, 0.0)) - 1.0))),
    "hard_sigmoid": lambda alpha=0.2, beta=0.5: (lambda v: np.clip(alpha * v + beta, 0.0, 1.0)),
    "thresholded_relu": lambda alpha=1.0: (lambda v: np.where(v > alpha, v, 0.0)),
    "scaled_tanh": lambda alpha=1.0, beta=1.0: (lambda v: alpha * np.tanh(beta * v)),
    "affine": lambda alpha=1.0, beta=0.0: (lambda v: alpha * v + beta),
}


def activation_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    family, _, rest = name.partition("(")
    params = {key: float(value) for key, value in
              (part.split("=") for part in rest.rstrip(")").split(",") if part)}
    return PARAMETRISED_ACTIVATIONS[family](**params)


def _merge(outputs: list[np.ndarray], merge: str | None) -> np.ndarray:
    """Combine a layer's direction outputs (forward first) as Keras's merge_mode says."""
    if len(outputs) == 1:
        return outputs[0]
    if merge in (None, "concat", "none"):
        return np.concatenate(outputs, axis=-1)
    forward, backward = outputs
    if merge == "sum":
        return forward + backward
    if merge == "mul":
        return forward * backward
    if merge == "ave":
        return (forward + backward) / 2.0
    raise ValueError(f"unknown merge {merge!r}")


def _check_shape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(array.shape)}, the framework needs {shape}")


# --------------------------------------------------------------------------- PyTorch

PYTORCH_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def pytorch_direction(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                      b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                      reverse: bool) -> np.ndarray:
    """torch.nn.GRU, one layer in one direction (PyTorch documentation):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    `weight_ih` [3H, I] holds the rows r | z | n, `weight_hh` [3H, H] likewise. A reverse
    direction reads the sequence from the end; nn.GRU returns its outputs aligned with the
    input steps."""
    steps, batch, features = x.shape
    hidden = w_hh.shape[1]
    _check_shape("weight_ih", w_ih, (3 * hidden, features))
    _check_shape("weight_hh", w_hh, (3 * hidden, hidden))
    b_ih = np.zeros(3 * hidden) if b_ih is None else b_ih
    b_hh = np.zeros(3 * hidden) if b_hh is None else b_hh
    _check_shape("bias_ih", b_ih, (3 * hidden,))
    _check_shape("bias_hh", b_hh, (3 * hidden,))
    h = np.zeros((batch, hidden))
    out = np.empty((steps, batch, hidden))
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        i_r, i_z, i_n = gi[:, :hidden], gi[:, hidden:2 * hidden], gi[:, 2 * hidden:]
        h_r, h_z, h_n = gh[:, :hidden], gh[:, hidden:2 * hidden], gh[:, 2 * hidden:]
        r = _sigmoid(i_r + h_r)
        z = _sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        h = (1.0 - z) * n + z * h
        out[t] = h
    return out


def run_pytorch(path_or_arrays: Path | dict[str, np.ndarray], module: str,
                x: np.ndarray) -> np.ndarray:
    """An `nn.GRU` state dict under the prefix `<module>.` (`module=""`: no prefix), as
    `nn.GRU(I, H, num_layers=L, bidirectional=…)` loads it strictly; layers and directions
    come from the key names only."""
    arrays = path_or_arrays if isinstance(path_or_arrays, dict) else load_arrays(path_or_arrays)[0]
    prefix = f"{module}." if module else ""
    if isinstance(arrays, H5Arrays):
        prefix = arrays.normalize(prefix)
    params: dict[tuple[int, bool], dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if not key.startswith(prefix):
            continue
        match = PYTORCH_KEY.match(key[len(prefix):])
        if match is None:
            continue
        params.setdefault((int(match[2]), bool(match[3])), {})[match[1]] = _f64(value)
    if not params:
        raise ValueError(f"no nn.GRU tensors under {prefix!r}")
    layers = sorted({layer for layer, _ in params})
    if layers != list(range(len(layers))):
        raise ValueError(f"nn.GRU layers must be numbered 0..L-1, found {layers}")
    directions = [False, True] if any(reverse for _, reverse in params) else [False]
    layer_input = _f64(x)
    for layer in layers:
        outputs = []
        for reverse in directions:
            p = params.get((layer, reverse))
            if p is None or "weight_ih" not in p or "weight_hh" not in p:
                raise ValueError(f"layer {layer} {'reverse' if reverse else 'forward'}: "
                                 "missing weights (load_state_dict would refuse the file)")
            if ("bias_ih" in p) != ("bias_hh" in p):
                raise ValueError(f"layer {layer}: bias_ih and bias_hh go together in nn.GRU")
            outputs.append(pytorch_direction(layer_input, p["weight_ih"], p["weight_hh"],
                                             p.get("bias_ih"), p.get("bias_hh"), reverse))
        layer_input = np.concatenate(outputs, axis=-1)  # nn.GRU only concatenates
    return layer_input


# --------------------------------------------------------------------------- metadata-driven layers

def _module_layers(metadata: dict, module: str) -> tuple[dict, list[list[tuple[str, dict]]]]:
    """The module's metadata entry and its cells per layer, bottom first, forward first."""
    matches = [m for m in metadata["modules"] if m["name"] == module]
    if len(matches) != 1:
        raise ValueError(f"metadata names {len(matches)} modules {module!r}")
    (meta,) = matches
    by_layer: dict[int, list[tuple[str, dict]]] = {}
    for name in meta["cells"]:
        facts = metadata["cells"][name]
        by_layer.setdefault(int(facts["layer"]), []).append((name, facts))
    layers = []
    for index in sorted(by_layer):
        cells = sorted(by_layer[index], key=lambda cell: cell[1]["direction"] != "forward")
        if [facts["direction"] for _, facts in cells] not in (["forward"], ["reverse"],
                                                              ["forward", "reverse"]):
            raise ValueError(f"layer {index} of {module} has directions "
                             f"{[facts['direction'] for _, facts in cells]}")
        layers.append(cells)
    return meta, layers


def _cell_prefix(name: str, facts: dict) -> str:
    """Where the target keeps the cell's tensors: `target_prefix`, else the name the
    conversion gave the cell (`target_name`), else the source cell's own name."""
    return facts.get("target_prefix") or facts.get("target_name") or name


def _run_layers(metadata: dict, module: str, x: np.ndarray,
                run_cell: Callable[[np.ndarray, str, dict], np.ndarray]) -> np.ndarray:
    meta, layers = _module_layers(metadata, module)
    layer_input = _f64(x)
    for cells in layers:
        outputs = []
        for name, facts in cells:
            reverse = facts["direction"] == "reverse"
            seq = layer_input[::-1] if reverse else layer_input
            states = run_cell(seq, name, facts)  # in the order the cell read the steps
            # A reverse cell's outputs come back aligned with the input steps, as a
            # Bidirectional layer (or bidirectional_dynamic_rnn) aligns them, unless the
            # metadata says the layer returns them last-read first (a lone go_backwards).
            keep_read_order = reverse and facts.get("outputs_time_reversed", False)
            outputs.append(states if not reverse or keep_read_order else states[::-1])
        layer_input = _merge(outputs, meta.get("merge"))
    return layer_input


# --------------------------------------------------------------------------- Keras

def keras_cell(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
               bias: np.ndarray | None, reset_after: bool, activation: str = "tanh",
               recurrent_activation: str = "sigmoid") -> np.ndarray:
    """keras.layers.GRU's cell over `x` [time, batch, I] in the given order (Keras docs and
    GRUCell.call). `kernel` [I, 3H] columns z | r | h, `recurrent_kernel` [H, 3H]:

        z  = ra(x Wz + bz_in + h Uz [+ bz_rec])
        r  = ra(x Wr + br_in + h Ur [+ br_rec])
        hh = a(x Wh + bh + (r * h) Uh)                     reset_after=False, bias [3H]
        hh = a(x Wh + bh_in + r * (h Uh + bh_rec))         reset_after=True,  bias [2, 3H]
        h' = z * h + (1 - z) * hh
    """
    steps, batch, features = x.shape
    hidden = recurrent_kernel.shape[0]
    _check_shape("kernel", kernel, (features, 3 * hidden))
    _check_shape("recurrent_kernel", recurrent_kernel, (hidden, 3 * hidden))
    if bias is None:
        bias = np.zeros((2, 3 * hidden) if reset_after else (3 * hidden,))
    _check_shape("bias", bias, (2, 3 * hidden) if reset_after else (3 * hidden,))
    act, rec_act = activation_function(activation), activation_function(recurrent_activation)
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, None)
    h = np.zeros((batch, hidden))
    out = np.empty((steps, batch, hidden))
    for t in range(steps):
        xk = x[t] @ kernel + input_bias
        x_z, x_r, x_h = xk[:, :hidden], xk[:, hidden:2 * hidden], xk[:, 2 * hidden:]
        if reset_after:
            inner = h @ recurrent_kernel + recurrent_bias
            z = rec_act(x_z + inner[:, :hidden])
            r = rec_act(x_r + inner[:, hidden:2 * hidden])
            recurrent_h = r * inner[:, 2 * hidden:]
        else:
            z = rec_act(x_z + h @ recurrent_kernel[:, :hidden])
            r = rec_act(x_r + h @ recurrent_kernel[:, hidden:2 * hidden])
            recurrent_h = (r * h) @ recurrent_kernel[:, 2 * hidden:]
        hh = act(x_h + recurrent_h)
        h = z * h + (1.0 - z) * hh
        out[t] = h
    return out


def run_keras(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    """Per cell `<target_prefix>/kernel`, `recurrent_kernel`, `bias`, each cell built as
    `GRU(H, reset_after=…, activation=…, recurrent_activation=…, go_backwards=<reverse>)` from
    the metadata; `x` and the result time-major (Keras itself is batch-major)."""
    arrays, metadata = load_arrays(path)
    if metadata is None:
        raise ValueError(f"{path}: no {METADATA_KEY} metadata to build the Keras layers from")

    def run_cell(seq: np.ndarray, name: str, facts: dict) -> np.ndarray:
        prefix = _cell_prefix(name, facts)
        return keras_cell(seq, _f64(arrays[f"{prefix}/kernel"]),
                          _f64(arrays[f"{prefix}/recurrent_kernel"]),
                          _f64(arrays[f"{prefix}/bias"]) if f"{prefix}/bias" in arrays else None,
                          bool(facts["reset_after"]), facts.get("activation", "tanh"),
                          facts.get("recurrent_activation", "sigmoid"))

    return _run_layers(metadata, module, x, run_cell)


# --------------------------------------------------------------------------- TF 1 GRUCell

def tf_gru_cell(x: np.ndarray, gates_kernel: np.ndarray, gates_bias: np.ndarray,
                candidate_kernel: np.ndarray, candidate_bias: np.ndarray,
                activation: str = "tanh") -> np.ndarray:
    """tf.compat.v1.nn.rnn_cell.GRUCell over `x` [time, batch, I] in the given order
    (TF's rnn_cell_impl.GRUCell.call):

        r, u = split(sigmoid(concat([x, h]) @ gates/kernel + gates/bias), 2)   # r first
        c    = act(concat([x, r * h]) @ candidate/kernel + candidate/bias)
        h'   = u * h + (1 - u) * c
    """
    steps, batch, features = x.shape
    hidden = candidate_kernel.shape[1]
    _check_shape("gates/kernel", gates_kernel, (features + hidden, 2 * hidden))
    _check_shape("gates/bias", gates_bias, (2 * hidden,))
    _check_shape("candidate/kernel", candidate_kernel, (features + hidden, hidden))
    _check_shape("candidate/bias", candidate_bias, (hidden,))
    act = activation_function(activation)
    h = np.zeros((batch, hidden))
    out = np.empty((steps, batch, hidden))
    for t in range(steps):
        value = _sigmoid(np.concatenate([x[t], h], axis=1) @ gates_kernel + gates_bias)
        r, u = value[:, :hidden], value[:, hidden:]
        c = act(np.concatenate([x[t], r * h], axis=1) @ candidate_kernel + candidate_bias)
        h = u * h + (1.0 - u) * c
        out[t] = h
    return out


def run_tf(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    """Per cell `<target_prefix>/gates/kernel`, `gates/bias`, `candidate/kernel`,
    `candidate/bias`, stacked and paired as the metadata says (a reverse cell as in
    `bidirectional_dynamic_rnn`: reads the reversed input, outputs re-aligned)."""
    arrays, metadata = load_arrays(path)
    if metadata is None:
        raise ValueError(f"{path}: no {METADATA_KEY} metadata to build the TF cells from")

    def run_cell(seq: np.ndarray, name: str, facts: dict) -> np.ndarray:
        if facts.get("recurrent_activation", "sigmoid") != "sigmoid":
            raise ValueError(f"{name}: a TF 1 GRUCell's gates are always sigmoid")
        if facts.get("reset_after"):
            raise ValueError(f"{name}: a TF 1 GRUCell resets before the product")
        prefix = _cell_prefix(name, facts)
        return tf_gru_cell(seq, *(_f64(arrays[f"{prefix}/{key}"]) for key in (
            "gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias")),
            activation=facts.get("activation", "tanh"))

    return _run_layers(metadata, module, x, run_cell)


# --------------------------------------------------------------------------- ONNX protobuf

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message: an int for varints, bytes
    otherwise."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("truncated message")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _ints(wire: int, value: Any) -> list[int]:
    """A repeated int64 field entry, packed or not."""
    if wire == 0:
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(_signed(item))
    return out


def _floats(wire: int, value: bytes, fmt: str = "<f4") -> list[float]:
    return list(np.frombuffer(value, dtype=fmt).astype(np.float64))


# TensorProto.DataType -> NumPy dtype
ONNX_DTYPES = {1: "<f4", 2: "u1", 3: "i1", 4: "<u2", 5: "<i2", 6: "<i4", 7: "<i8", 9: "?",
               10: "<f2", 11: "<f8", 12: "<u4", 13: "<u8"}


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    """TensorProto: dims=1, data_type=2, float_data=4, int32_data=5, int64_data=7, name=8,
    raw_data=9, double_data=10, uint64_data=11, data_location=14."""
    dims: list[int] = []
    data_type, name, raw = 0, "", None
    typed: list[float] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            data_type = value
        elif number == 8:
            name = value.decode("utf-8")
        elif number == 9:
            raw = value
        elif number == 4:
            typed += _floats(wire, value) if wire == 2 else [struct.unpack("<f", value)[0]]
        elif number == 10:
            typed += _floats(wire, value, "<f8") if wire == 2 else [struct.unpack("<d", value)[0]]
        elif number in (5, 7, 11):
            typed += _ints(wire, value)
        elif number == 14 and value == 1:
            raise ValueError(f"tensor {name}: external data is not supported here")
    if data_type not in ONNX_DTYPES:
        raise ValueError(f"tensor {name}: data type {data_type} not supported here")
    dtype = np.dtype(ONNX_DTYPES[data_type])
    if raw is not None:
        array = np.frombuffer(raw, dtype=dtype).copy()
    elif data_type == 10:  # float16 travels as its bits in int32_data
        array = np.array(typed, dtype=np.uint16).view(np.float16)
    else:
        array = np.array(typed, dtype=dtype)
    return name, array.reshape(dims)


# AttributeProto.AttributeType values
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_TENSOR, ATTR_FLOATS, ATTR_INTS, ATTR_STRINGS = 1, 2, 3, 4, 6, 7, 8


def _attribute(buf: bytes) -> tuple[str, Any]:
    """AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, strings=9, type=20."""
    name, kind = "", 0
    f, i, s, t = 0.0, 0, b"", None
    floats: list[float] = []
    ints: list[int] = []
    strings: list[bytes] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            name = value.decode("utf-8")
        elif number == 20:
            kind = value
        elif number == 2:
            f = struct.unpack("<f", value)[0]
        elif number == 3:
            i = _signed(value)
        elif number == 4:
            s = value
        elif number == 5:
            t = _tensor(value)[1]
        elif number == 7:
            floats += _floats(wire, value) if wire == 2 else [struct.unpack("<f", value)[0]]
        elif number == 8:
            ints += _ints(wire, value)
        elif number == 9:
            strings.append(value)
    values = {ATTR_FLOAT: f, ATTR_INT: i, ATTR_STRING: s.decode("utf-8"), ATTR_TENSOR: t,
              ATTR_FLOATS: floats, ATTR_INTS: ints,
              ATTR_STRINGS: [item.decode("utf-8") for item in strings]}
    if kind not in values:
        raise ValueError(f"attribute {name}: type {kind} not supported here")
    return name, values[kind]


@dataclass
class OnnxNode:
    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any]
    domain: str = ""


@dataclass
class OnnxModel:
    nodes: list[OnnxNode] = field(default_factory=list)
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    opset: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


def _node(buf: bytes) -> OnnxNode:
    """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7."""
    node = OnnxNode("", "", [], [], {})
    for number, _, value in _fields(buf):
        if number == 1:
            node.inputs.append(value.decode("utf-8"))
        elif number == 2:
            node.outputs.append(value.decode("utf-8"))
        elif number == 3:
            node.name = value.decode("utf-8")
        elif number == 4:
            node.op_type = value.decode("utf-8")
        elif number == 5:
            key, attribute = _attribute(value)
            node.attributes[key] = attribute
        elif number == 7:
            node.domain = value.decode("utf-8")
    return node


def _value_info_name(buf: bytes) -> str:
    return next(value.decode("utf-8") for number, _, value in _fields(buf) if number == 1)


def read_onnx(path: Path) -> OnnxModel:
    """ModelProto (graph=7, opset_import=8, metadata_props=14) → GraphProto (node=1,
    initializer=5, input=11, output=12)."""
    model = OnnxModel()
    graph = None
    for number, _, value in _fields(Path(path).read_bytes()):
        if number == 7:
            # A message field that occurs several times is merged, as protobuf's encoding
            # guide says; parsing the occurrences' bytes one after the other does exactly that
            # (grutool streams an ONNX model's initializers as one `graph` record each).
            graph = value if graph is None else graph + value
        elif number == 8:
            opset = dict((n, v) for n, _, v in _fields(value))
            if opset.get(1, b"") in (b"", b"ai.onnx"):
                model.opset = int(opset.get(2, 0))
        elif number == 14:
            entry = dict((n, v.decode("utf-8")) for n, _, v in _fields(value))
            model.metadata[entry.get(1, "")] = entry.get(2, "")
    if graph is None:
        raise ValueError(f"{path}: no graph")
    for number, _, value in _fields(graph):
        if number == 1:
            model.nodes.append(_node(value))
        elif number == 5:
            name, array = _tensor(value)
            model.initializers[name] = array
        elif number == 11:
            model.inputs.append(_value_info_name(value))
        elif number == 12:
            model.outputs.append(_value_info_name(value))
    return model


def onnx_initializer_bytes(path: Path, name: str) -> bytes:
    """The raw_data bytes of initializer `name` as they sit in the file (for tests that
    tamper with them in place)."""
    for number, _, value in _fields(Path(path).read_bytes()):
        if number != 7:
            continue
        for gnumber, _, gvalue in _fields(value):
            if gnumber == 5 and _tensor(gvalue)[0] == name:
                return next(v for n, _, v in _fields(gvalue) if n == 9)
    raise KeyError(name)


# --------------------------------------------------------------------------- ONNX ops

def _onnx_activation(name: str, alpha: float | None, beta: float | None) -> Callable:
    """The activation functions the ONNX RNN operators name, with the spec's defaults."""
    if name == "Sigmoid":
        return _sigmoid
    if name == "Tanh":
        return np.tanh
    if name == "Relu":
        return lambda v: np.maximum(v, 0.0)
    if name == "HardSigmoid":
        a, b = 0.2 if alpha is None else alpha, 0.5 if beta is None else beta
        return lambda v: np.clip(a * v + b, 0.0, 1.0)
    if name == "LeakyRelu":
        a = 0.01 if alpha is None else alpha
        return lambda v: np.where(v >= 0, v, a * v)
    if name == "Affine":
        a, b = 1.0 if alpha is None else alpha, 0.0 if beta is None else beta
        return lambda v: a * v + b
    if name == "ScaledTanh":
        a, b = 1.0 if alpha is None else alpha, 1.0 if beta is None else beta
        return lambda v: a * np.tanh(b * v)
    if name == "Softsign":
        return lambda v: v / (1.0 + np.abs(v))
    if name == "Softplus":
        return lambda v: np.log1p(np.exp(-np.abs(v))) + np.maximum(v, 0.0)
    if name == "Elu":
        a = 1.0 if alpha is None else alpha
        return lambda v: np.where(v >= 0, v, a * (np.exp(np.minimum(v, 0.0)) - 1.0))
    if name == "ThresholdedRelu":
        a = 1.0 if alpha is None else alpha
        return lambda v: np.where(v > a, v, 0.0)
    raise ValueError(f"activation {name} not supported here")


PARAMETRIC = {"HardSigmoid": 2, "LeakyRelu": 1, "Affine": 2, "ScaledTanh": 2, "Elu": 1,
              "ThresholdedRelu": 1}


def onnx_gru(inputs: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    """The ONNX GRU operator (onnx/docs/Operators.md#GRU), gates z | r | h:

        zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz)
        rt = f(Xt Wr^T + Ht-1 Rr^T + Wbr + Rbr)
        ht = g(Xt Wh^T + (rt . Ht-1) Rh^T + Rbh + Wbh)      linear_before_reset = 0
        ht = g(Xt Wh^T + rt . (Ht-1 Rh^T + Rbh) + Wbh)      linear_before_reset != 0
        Ht = (1 - zt) . ht + zt . Ht-1

    W [D, 3H, I], R [D, 3H, H], B [D, 6H] (Wb then Rb); Y [seq, D, batch, H], Y_h [D, batch, H]
    (layout = 1: batch first). A reverse direction's Y is aligned with the input steps."""
    x, w, r, b, seq_lens, initial_h = (list(inputs) + [None] * 6)[:6]
    layout = attrs.get("layout", 0)
    x = _f64(x)
    if layout:
        x = x.transpose(1, 0, 2)
        initial_h = None if initial_h is None else _f64(initial_h).transpose(1, 0, 2)
    steps, batch, _ = x.shape
    w, r = _f64(w), _f64(r)
    directions_count, hidden = w.shape[0], r.shape[2]
    if attrs.get("hidden_size", hidden) != hidden:
        raise ValueError("hidden_size does not match R")
    direction = attrs.get("direction", "forward")
    reverses = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]
    if len(reverses) != directions_count:
        raise ValueError(f"direction {direction} with W for {directions_count} directions")
    b = np.zeros((directions_count, 6 * hidden)) if b is None else _f64(b)
    if seq_lens is not None and np.any(np.asarray(seq_lens) != steps):
        raise ValueError("sequence_lens shorter than the sequence are not supported here")
    h0 = np.zeros((directions_count, batch, hidden)) if initial_h is None else _f64(initial_h)
    names = attrs.get("activations") or ["Sigmoid", "Tanh"] * directions_count
    alphas, betas = list(attrs.get("activation_alpha", [])), list(attrs.get("activation_beta", []))
    functions = []
    for name in names:  # alpha/beta are consumed in order by the activations that take them
        takes = PARAMETRIC.get(name, 0)
        alpha = alphas.pop(0) if takes >= 1 and alphas else None
        beta = betas.pop(0) if takes >= 2 and betas else None
        functions.append(_onnx_activation(name, alpha, beta))
    clip = attrs.get("clip")
    clipped = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
    lbr = attrs.get("linear_before_reset", 0)
    y = np.empty((steps, directions_count, batch, hidden))
    y_h = np.empty((directions_count, batch, hidden))
    for d, reverse in enumerate(reverses):
        f, g = functions[2 * d], functions[2 * d + 1]
        w_z, w_r, w_h = w[d, :hidden], w[d, hidden:2 * hidden], w[d, 2 * hidden:]
        r_z, r_r, r_h = r[d, :hidden], r[d, hidden:2 * hidden], r[d, 2 * hidden:]
        wb_z, wb_r, wb_h, rb_z, rb_r, rb_h = np.split(b[d], 6)
        h = h0[d]
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            xt = x[t]
            z = f(clipped(xt @ w_z.T + h @ r_z.T + wb_z + rb_z))
            rt = f(clipped(xt @ w_r.T + h @ r_r.T + wb_r + rb_r))
            if lbr:
                candidate = g(clipped(xt @ w_h.T + rt * (h @ r_h.T + rb_h) + wb_h))
            else:
                candidate = g(clipped(xt @ w_h.T + (rt * h) @ r_h.T + rb_h + wb_h))
            h = (1.0 - z) * candidate + z * h
            y[t, d] = h
        y_h[d] = h
    if layout:
        return [y.transpose(2, 0, 1, 3), y_h.transpose(1, 0, 2)]
    return [y, y_h]


def _axes(node: OnnxNode, inputs: list, index: int = 1) -> list[int] | None:
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in np.asarray(inputs[index]).reshape(-1)]
    return node.attributes.get("axes")


def _reshape(data: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    target = [int(s) for s in shape]
    if not allowzero:
        target = [data.shape[i] if s == 0 else s for i, s in enumerate(target)]
    return data.reshape(target)


def _slice(node: OnnxNode, inputs: list, data: np.ndarray) -> np.ndarray:
    if len(inputs) > 1:
        starts, ends = np.asarray(inputs[1]).tolist(), np.asarray(inputs[2]).tolist()
        axes = _axes(node, inputs, 3) or list(range(len(starts)))
        steps = np.asarray(inputs[4]).tolist() if len(inputs) > 4 and inputs[4] is not None \
            else [1] * len(starts)
    else:  # opset < 10: attributes
        starts, ends = node.attributes["starts"], node.attributes["ends"]
        axes = node.attributes.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        index[axis % data.ndim] = slice(int(start), int(end), int(step))
    return data[tuple(index)]


def _reduce(node: OnnxNode, inputs: list, reducer: Callable) -> np.ndarray:
    data = inputs[0]
    axes = _axes(node, inputs)
    keepdims = bool(node.attributes.get("keepdims", 1))
    if not axes:
        if node.attributes.get("noop_with_empty_axes", 0):
            return data
        axes = list(range(data.ndim))
    return reducer(data, axis=tuple(a % data.ndim for a in axes), keepdims=keepdims)


def _unsqueeze(node: OnnxNode, inputs: list) -> np.ndarray:
    data, axes = inputs[0], _axes(node, inputs)
    rank = data.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        data = np.expand_dims(data, axis)
    return data


def _squeeze(node: OnnxNode, inputs: list) -> np.ndarray:
    data, axes = inputs[0], _axes(node, inputs)
    if axes is None:
        return np.squeeze(data)
    return np.squeeze(data, axis=tuple(a % data.ndim for a in axes))


def _split(node: OnnxNode, inputs: list) -> list[np.ndarray]:
    data, axis = inputs[0], node.attributes.get("axis", 0)
    sizes = _axes(node, inputs) or node.attributes.get("split")
    if sizes is None:
        parts = node.attributes.get("num_outputs", len(node.outputs))
        return np.array_split(data, parts, axis=axis)
    return np.split(data, np.cumsum(sizes)[:-1], axis=axis)


def _reverse_sequence(node: OnnxNode, inputs: list) -> np.ndarray:
    data, lengths = inputs[0].copy(), np.asarray(inputs[1])
    batch_axis, time_axis = node.attributes.get("batch_axis", 1), node.attributes.get("time_axis", 0)
    for b, length in enumerate(lengths):
        index = [slice(None)] * data.ndim
        index[batch_axis] = b
        source = list(index)
        index[time_axis] = slice(0, int(length))
        source[time_axis] = slice(int(length) - 1, None, -1) if length else slice(0, 0)
        data[tuple(index)] = inputs[0][tuple(source)]
    return data


def _constant(node: OnnxNode) -> np.ndarray:
    attrs = node.attributes
    if "value" in attrs:
        return attrs["value"]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise ValueError(f"Constant {node.name}: no value")


def _as_float(array: np.ndarray) -> np.ndarray:
    """Floating tensors are carried as float64 through the graph; integers stay integers."""
    array = np.asarray(array)
    return array.astype(np.float64) if array.dtype.kind == "f" else array


def _cast(node: OnnxNode, data: np.ndarray) -> np.ndarray:
    dtype = np.dtype(ONNX_DTYPES[node.attributes["to"]])
    return data.astype(np.float64) if dtype.kind == "f" else data.astype(dtype)


ELEMENTWISE: dict[str, Callable] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
    "Neg": np.negative, "Sigmoid": _sigmoid, "Tanh": np.tanh, "Relu": lambda v: np.maximum(v, 0.0),
}


def _run_node(node: OnnxNode, inputs: list) -> list[np.ndarray]:
    op, attrs = node.op_type, node.attributes
    if node.domain not in ("", "ai.onnx"):
        raise ValueError(f"node {node.name}: domain {node.domain} not supported here")
    if op == "GRU":
        return onnx_gru(inputs, attrs)
    if op in ELEMENTWISE:
        return [ELEMENTWISE[op](*inputs)]
    if op in ("Identity", "Dropout"):
        return [inputs[0]]
    if op == "Constant":
        return [_as_float(_constant(node))]
    if op == "Shape":
        shape = np.array(inputs[0].shape, dtype=np.int64)
        return [shape[attrs.get("start", 0):attrs.get("end", len(shape))]]
    if op == "Gather":
        return [np.take(inputs[0], np.asarray(inputs[1]), axis=attrs.get("axis", 0))]
    if op == "Unsqueeze":
        return [_unsqueeze(node, inputs)]
    if op == "Squeeze":
        return [_squeeze(node, inputs)]
    if op == "Concat":
        return [np.concatenate(inputs, axis=attrs["axis"])]
    if op == "Expand":
        shape = np.broadcast_shapes(inputs[0].shape, tuple(int(s) for s in inputs[1]))
        return [np.broadcast_to(inputs[0], shape).copy()]
    if op == "Transpose":
        return [np.transpose(inputs[0], attrs.get("perm"))]
    if op == "Reshape":
        return [_reshape(inputs[0], inputs[1], attrs.get("allowzero", 0))]
    if op == "Flatten":
        axis = attrs.get("axis", 1) % max(inputs[0].ndim, 1)
        return [inputs[0].reshape(int(np.prod(inputs[0].shape[:axis])), -1)]
    if op == "Slice":
        return [_slice(node, inputs, inputs[0])]
    if op == "ReduceSum":
        return [_reduce(node, inputs, np.sum)]
    if op == "ReduceMean":
        return [_reduce(node, inputs, np.mean)]
    if op == "ReduceProd":
        return [_reduce(node, inputs, np.prod)]
    if op == "Split":
        return _split(node, inputs)
    if op == "ReverseSequence":
        return [_reverse_sequence(node, inputs)]
    if op == "Cast":
        return [_cast(node, inputs[0])]
    raise ValueError(f"node {node.name}: op {op} not supported by the golden ONNX runner")


def run_onnx_graph(model: OnnxModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {name: _as_float(array)
                                     for name, array in model.initializers.items()}
    values.update({name: _as_float(array) for name, array in feeds.items()})
    for node in model.nodes:
        inputs = [values[name] if name else None for name in node.inputs]
        while inputs and inputs[-1] is None:  # trailing optional inputs left out
            inputs.pop()
        for name, value in zip(node.outputs, _run_node(node, inputs), strict=False):
            if name:
                values[name] = value
    return {name: values[name] for name in model.outputs}


def run_onnx(path: Path, x: np.ndarray, output: str | None = None) -> np.ndarray:
    """Run the model's graph on `x` (fed to its one non-initializer input); returns its first
    graph output (or `output`) exactly as the graph computes it."""
    model = read_onnx(path)
    feeds = [name for name in model.inputs if name not in model.initializers]
    if len(feeds) != 1:
        raise ValueError(f"{path}: expected one graph input, found {feeds}")
    outputs = run_onnx_graph(model, {feeds[0]: _f64(x)})
    return outputs[output or model.outputs[0]]


def run_onnx_module(path: Path, module: str, x: np.ndarray) -> np.ndarray:
    """The `RUNNERS` signature: an .onnx file holds one module, so `module` is not needed."""
    return run_onnx(path, x)


RUNNERS: dict[str, Callable[[Path, str, np.ndarray], np.ndarray]] = {
    "pytorch": run_pytorch, "keras": run_keras, "onnx": run_onnx_module, "tf": run_tf,
}
