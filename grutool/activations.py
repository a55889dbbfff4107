"""The activation functions a GRU cell can use, by the names grutool gives them.

A name is either a plain one (`tanh`, `sigmoid`, `hard_sigmoid`, …) or a parametrised one
written `name(key=value,…)` with the parameters sorted (`relu(max_value=6)`,
`hard_sigmoid(alpha=0.2,beta=0.5)`), so that one function has one name wherever it came
from. Every framework's serialised form is mapped to one of these names by its family, or to
`unknown`, which cannot be run, so any check or conversion that needs it is refused.

Two functions share the name "hard sigmoid" and differ: Keras 2 / tf_keras compute
`clip(0.2 x + 0.5, 0, 1)` (`hard_sigmoid`), Keras 3 `relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)`
(`hard_sigmoid_keras3`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

UNKNOWN = "unknown"

_PLAIN: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras3": lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0),
    "relu": lambda v: np.maximum(v, 0.0),
    "linear": lambda v: v,
    "softsign": lambda v: v / (1.0 + np.abs(v)),
    "softplus": lambda v: np.logaddexp(0.0, v),
    "elu": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0.0))),
    "selu": lambda v: 1.0507009873554805 * np.where(
        v > 0, v, 1.6732632423543772 * np.expm1(np.minimum(v, 0.0))),
    "exponential": np.exp,
    "silu": lambda v: v / (1.0 + np.exp(-v)),
}
# Other names frameworks use for the same functions.
ALIASES = {"swish": "silu", "identity": "linear", "None": "linear"}

# Parametrised families: name -> (parameters with their defaults, function of (v, params)).
_PARAMETRISED: dict[str, tuple[dict[str, float | None], Callable[..., np.ndarray]]] = {
    "relu": ({"max_value": None, "negative_slope": 0.0, "threshold": 0.0}, lambda v, p: _relu(v, **p)),
    "hard_sigmoid": ({"alpha": 0.2, "beta": 0.5},
                     lambda v, p: np.clip(p["alpha"] * v + p["beta"], 0.0, 1.0)),
    "leaky_relu": ({"alpha": 0.01}, lambda v, p: np.where(v >= 0, v, p["alpha"] * v)),
    "elu": ({"alpha": 1.0}, lambda v, p: np.where(v > 0, v, p["alpha"] * np.expm1(np.minimum(v, 0.0)))),
    "scaled_tanh": ({"alpha": 1.0, "beta": 1.0}, lambda v, p: p["alpha"] * np.tanh(p["beta"] * v)),
    "affine": ({"alpha": 1.0, "beta": 0.0}, lambda v, p: p["alpha"] * v + p["beta"]),
    "thresholded_relu": ({"alpha": 1.0}, lambda v, p: np.where(v > p["alpha"], v, 0.0)),
}
_CALL = re.compile(r"^([a-z_]+)\((.*)\)$")


def _relu(v: np.ndarray, max_value: float | None, negative_slope: float,
          threshold: float) -> np.ndarray:
    # Keras's ReLU layer: x for x >= threshold, negative_slope * (x - threshold) below,
    # clipped at max_value.
    out = np.where(v >= threshold, v, negative_slope * (v - threshold))
    return out if max_value is None else np.minimum(out, max_value)


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def named(family: str, **params: float | None) -> str:
    """The one name of `family` with `params`: the plain name when every parameter is at its
    default and a plain function of that name exists, else `family(k=v,…)`; `unknown` for a
    family or parameter grutool does not know, or a non-finite value."""
    family = ALIASES.get(family, family)
    if family not in _PARAMETRISED:
        return family if family in _PLAIN and not params else UNKNOWN
    defaults = _PARAMETRISED[family][0]
    values = dict(defaults)
    for key, value in params.items():
        if key not in defaults:
            return UNKNOWN
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                return UNKNOWN
            value = float(value)
        values[key] = value if value is not None else defaults[key]  # None: not given, the default
    # One function, one name, whichever framework's vocabulary it came in.
    if family == "leaky_relu":
        return named("relu", negative_slope=values["alpha"])
    if family == "thresholded_relu" and values["alpha"] == 0.0:
        return "relu"
    if (family, values) in (("affine", {"alpha": 1.0, "beta": 0.0}),
                            ("scaled_tanh", {"alpha": 1.0, "beta": 1.0})):
        return "linear" if family == "affine" else "tanh"
    changed = {key: value for key, value in values.items()
               if value is not None and value != defaults[key]}  # None is only ever a default
    if not changed and family in _PLAIN:
        return family
    if family == "hard_sigmoid" and values == {"alpha": 1.0 / 6.0, "beta": 0.5}:
        return "hard_sigmoid_keras3"
    shown = ",".join(f"{key}={_number(value)}" for key, value in sorted(changed.items()))
    return f"{family}({shown})"


def _parse(name: str) -> tuple[str, dict[str, float | None]] | None:
    match = _CALL.match(name)
    if not match or match.group(1) not in _PARAMETRISED:
        return None
    defaults = _PARAMETRISED[match.group(1)][0]
    values = dict(defaults)
    for part in filter(None, match.group(2).split(",")):
        key, sep, text = part.partition("=")
        if not sep or key not in defaults:
            return None
        try:
            values[key] = float(text)
        except ValueError:
            return None
        if not math.isfinite(values[key] or 0.0):
            return None
    return match.group(1), values


def function(name: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The function `name` computes (on float64 arrays), or None when grutool cannot run it."""
    name = ALIASES.get(name, name)
    if name in _PLAIN:
        return _PLAIN[name]
    parsed = _parse(name)
    if parsed is None:
        return None
    family, params = parsed
    compute = _PARAMETRISED[family][1]
    return lambda v: compute(v, params)


def known(name: str) -> bool:
    return function(name) is not None


def parameters(name: str) -> tuple[str, dict[str, float | None]]:
    """(family, parameters) of a name: `hard_sigmoid_keras3` is `hard_sigmoid` with alpha 1/6."""
    if name == "hard_sigmoid_keras3":
        return "hard_sigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}
    if name in _PARAMETRISED:
        return name, dict(_PARAMETRISED[name][0])
    parsed = _parse(name)
    return parsed if parsed is not None else (name, {})


class _Table(dict):
    """`ACTIVATIONS[name]` for every name `function` knows, plain or parametrised."""

    def __missing__(self, name: str) -> Callable[[np.ndarray], np.ndarray]:
        found = function(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and known(name)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = _Table(_PLAIN)
