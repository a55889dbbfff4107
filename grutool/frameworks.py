"""The optional frameworks grutool can use: which are installed (found without importing
them, so `grutool env` stays fast), and TensorFlow imported without its C++ start-up log.

TensorFlow's native code writes its start-up lines ("Could not find cuda drivers …") straight
to file descriptor 2, before and regardless of `TF_CPP_MIN_LOG_LEVEL` in recent versions, so
the only way to keep them off a person's terminal is to point fd 2 elsewhere while it runs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# (import name, distribution names to ask for the version, the extra that installs it, use)
OPTIONAL = [
    ("tensorflow", ("tensorflow", "tensorflow-cpu"), "tf",
     "--reader tensorflow, convert --to tf --out x.ckpt"),
    ("torch", ("torch",), "torch", ".pt/.pth files, convert --to pytorch --out x.pt"),
    ("onnx", ("onnx",), "onnx", ".onnx files, convert --to onnx"),
    ("onnxruntime", ("onnxruntime",), "onnx", "the tests that run converted ONNX models"),
    ("msgpack", ("msgpack",), "flax", "Flax msgpack files"),
    ("keras", ("keras",), "keras", "the tests that load converted weights into Keras 3"),
    ("matplotlib", ("matplotlib",), "plot", "grutool plot"),
    ("fsspec", ("fsspec",), "remote", "checkpoints at URLs"),
    ("aiohttp", ("aiohttp",), "remote", "http:// and https:// URLs"),
    ("s3fs", ("s3fs",), "remote", "s3:// URLs"),
    ("gcsfs", ("gcsfs",), "remote", "gs:// URLs"),
    ("huggingface_hub", ("huggingface-hub", "huggingface_hub"), "remote", "hf:// URLs"),
]
REQUIRED = [("numpy", ("numpy",)), ("h5py", ("h5py",)), ("rich", ("rich",)), ("click", ("click",)),
            ("crc32c", ("crc32c",)), ("ml_dtypes", ("ml-dtypes", "ml_dtypes"))]

# Whether native libraries may write to the terminal (the CLI's --debug); off by default.
_native_logs_shown: ContextVar[bool] = ContextVar("grutool_native_logs_shown", default=False)


@dataclass
class Package:
    name: str
    installed: bool
    version: str | None
    extra: str | None = None
    used_for: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "installed": self.installed, "version": self.version,
                "extra": self.extra, "used_for": self.used_for}


def _version(distributions: tuple[str, ...]) -> str | None:
    for distribution in distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _found(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-removed installation
        return False


def packages() -> list[Package]:
    """grutool's dependencies and optional frameworks, found without importing any of them."""
    found = [Package(name, _found(name), _version(dists)) for name, dists in REQUIRED]
    found += [Package(name, _found(name), _version(dists), extra, used_for)
              for name, dists, extra, used_for in OPTIONAL]
    return found


@contextmanager
def native_logs_shown(shown: bool) -> Iterator[None]:
    """Within this block, let native libraries' logs reach stderr (`shown`) or not."""
    token = _native_logs_shown.set(shown)
    try:
        yield
    finally:
        _native_logs_shown.reset(token)


def native_logs_are_shown() -> bool:
    """Whether native libraries' logs may reach stderr here (the CLI's --debug)."""
    return _native_logs_shown.get()


@contextmanager
def native_stderr_hidden() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the block (unless native logs are
    shown): what C++ code writes there is dropped, and everything is restored afterwards,
    also when the block raises."""
    if _native_logs_shown.get():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 to protect (embedded, closed)
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, its C++ start-up log kept off the terminal. Raises ImportError
    when it is not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_hidden():
        import tensorflow

    return tensorflow
