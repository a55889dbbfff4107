"""What type checking (mypy) found: a None where the code assumed a value."""

from __future__ import annotations

import pytest
from conftest import TF_GRU_CELL

import grutool
from grutool.activations import named
from grutool.convert import Conversion
from grutool.errors import UsageError
from grutool.verify import CheckInputs, ModuleRunner, check_dtype


def test_a_parameter_given_as_none_is_its_default() -> None:
    # named() took None for "no value" only where the default is None (relu's max_value);
    # a None alpha raised TypeError while the name was being formatted.
    assert named("hard_sigmoid", alpha=None) == "hard_sigmoid"
    assert named("hard_sigmoid", alpha=None, beta=0.6) == "hard_sigmoid(beta=0.6)"
    assert named("relu", max_value=None) == "relu"
    assert named("relu", max_value=6) == "relu(max_value=6)"


def test_a_cell_fed_twice_breaks_the_run_instead_of_crashing() -> None:
    # The layer counted as complete when as many cells as it holds had been fed, so the same
    # cell twice ran the merge over the other cell's missing outputs (TypeError on None).
    with grutool.open_checkpoint(TF_GRU_CELL / "bidi") as checkpoint:
        module = next(m for m in checkpoint.modules if len(m.layers()[0]) == 2)
        runner = ModuleRunner(module, lambda: CheckInputs.of(module, 0), check_dtype(module))
        first = module.layers()[0][0]
        runner.feed(first, dict(checkpoint.read_weights(first)))
        runner.feed(first, dict(checkpoint.read_weights(first)))
        assert runner.broken
        assert runner.result() is None


def test_a_conversion_without_its_checkpoint_says_so() -> None:
    # A Conversion made by hand, not by convert(), has no checkpoint: AttributeError on None.
    with grutool.open_checkpoint(TF_GRU_CELL / "bidi") as checkpoint:
        conversion = Conversion("pytorch", checkpoint.path, checkpoint.modules)
        with pytest.raises(UsageError, match="no checkpoint"):
            conversion.arrays  # noqa: B018 - the property reads the weights
