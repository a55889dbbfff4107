"""`plain_table` writes exactly what rich writes for the tables `inspect` prints, and leaves
to rich what it cannot lay out the same way."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import settings
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grutool.plain_table import _wrap_left, plain_table, print_lines

WORDS = ["encoder/rnn/multi_rnn_cell/cell_0/gru_cell/{gates/kernel,", "gates/bias,", "a", "",
         "candidate/kernel,", "3→4", "float32", "reset", "before", "TF 1.2+ names", "x" * 70,
         "layers/bidirectional/forward_layer/cell", "W_ir", "2048×2048", "-0.0001234"]


def _console(width: int = 80) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None, highlight=False,
                   soft_wrap=False)


def _rich(table: Table, width: int) -> str:
    console = _console(width)
    console.print(table)
    return console.file.getvalue()


def _random_text(rng: random.Random, words: int) -> str:
    return rng.choice([" ", "  ", "\n", " "]).join(rng.choice(WORDS) for _ in range(words))


def _table(rng: random.Random) -> Table:
    caption = _random_text(rng, rng.randint(1, 12)) if rng.random() < 0.9 else None
    title = Text.assemble((_random_text(rng, rng.randint(1, 4)).replace("\n", " "), "bold cyan"),
                          "  (layer 0, forward)") if rng.random() < 0.9 else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    columns = rng.randint(1, 7)
    for _ in range(columns):
        table.add_column(rng.choice(["gate", "shape", "mean", "flags", "x", "max |Δ|"]),
                         justify=rng.choice(["left", "right"]))
    for _ in range(rng.randint(0, 12)):
        row = [rng.choice(WORDS[10:] + ["", "1 NaN, 2 Inf"])[:rng.randint(0, 12)]
               for _ in range(columns)]
        row[-1] = Text(row[-1], style="bold red")
        table.add_row(*row)
    return table


def test_the_same_characters_as_rich():
    # As many random tables as the settings profile's examples (tests/conftest.py): 300
    # under CI, 50 in a local run.
    for seed in range(settings.default.max_examples):
        rng = random.Random(seed)
        width = rng.choice([40, 60, 80, 120])
        table = _table(rng)
        fast = plain_table(_console(width), table)
        if fast is not None:
            assert fast == _rich(table, width), f"seed {seed}"


def test_most_tables_take_the_fast_path():
    taken = sum(plain_table(_console(120), _table(random.Random(seed))) is not None
                for seed in range(100))
    assert taken > 80


def test_the_wrap_is_richs():
    for seed in range(500):
        rng = random.Random(seed)
        text = _random_text(rng, rng.randint(0, 15)).replace("\n", " ")
        width = rng.randint(1, 90)
        rich = Text(text).wrap(_console(), width, justify="left", overflow="fold")
        assert _wrap_left(text, width) == [line.plain for line in rich], f"seed {seed}"


def test_colour_markup_and_wide_tables_are_left_to_rich():
    table = Table(title="t")
    table.add_column("a")
    table.add_row("[bold]markup[/bold]")
    assert plain_table(_console(), table) is None
    wide = Table()
    wide.add_column("a")
    wide.add_row("x" * 100)
    assert plain_table(_console(80), wide) is None
    coloured = Console(file=io.StringIO(), color_system="truecolor", width=80)
    plain = Table()
    plain.add_column("a")
    assert plain_table(coloured, plain) is None


def test_small_cells_are_summarised_as_array_stats_does():
    import numpy as np

    from grutool.stats import _small_cell_stats, array_stats

    rng = np.random.default_rng(0)
    for _ in range(settings.default.max_examples):  # 300 under CI, 50 in a local run
        arrays = []
        for _ in range(int(rng.integers(1, 13))):
            size = int(rng.integers(1, 4097))
            dtype = [np.float32, np.float64, np.float16][int(rng.integers(0, 3))]
            values = rng.standard_normal(size) * rng.uniform(1e-3, 100) + rng.uniform(-5, 5)
            array = values.astype(dtype)
            arrays.append(array.reshape(4, -1)[:, ::2] if size % 8 == 0 else array)
        together = _small_cell_stats(arrays)
        assert together is not None
        for array, fast in zip(arrays, together, strict=True):
            slow = array_stats(array)
            assert fast["shape"] == slow["shape"] and fast["nan"] == slow["nan"] == 0
            for key in ("mean", "std", "min", "max"):
                assert fast[key] == pytest.approx(slow[key], rel=1e-12, abs=1e-15), key
    with_nan = [np.array([1.0, np.nan], np.float32)]
    assert _small_cell_stats(with_nan) is None
    assert array_stats(with_nan[0])["nan"] == 1


LINE_WORDS = ["from", "layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE,", "a", "",
              "3→4", "float32", "(--slot", "x" * 90, "gru/gru_cell/{", "é", "[bold]", "2048×2048"]


def test_lines_are_written_as_rich_writes_them():
    """`print_lines` on a plain console gives rich's own output for the same lines: short or
    long, indented, styled, one word or several, with characters it must leave to rich."""
    for seed in range(settings.default.max_examples):  # 300 under CI, 50 in a local run
        rng = random.Random(seed)
        width = rng.choice([20, 40, 80])
        lines = [Text(" " * rng.choice([0, 0, 2, 6]) + " ".join(
                     rng.choice(LINE_WORDS) for _ in range(rng.randint(1, 5))).rstrip(),
                      style=rng.choice(["", "dim", "cyan"]))
                 for _ in range(rng.randint(1, 8))]
        ours, rich_own = _console(width), _console(width)
        print_lines(ours, lines)
        for line in lines:
            rich_own.print(line, crop=False, overflow="ignore")
        assert ours.file.getvalue() == rich_own.file.getvalue(), (width, [t.plain for t in lines])
