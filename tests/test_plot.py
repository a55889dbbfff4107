"""`grutool plot`: valid images with nine panels per cell, the arrays really drawn, outputs
named as documented, written atomically and never over an existing file or an input."""

import json
import re
import shutil
import sys

import numpy as np
import pytest
from conftest import TF_GRU_CELL

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
BIDI = TF_GRU_CELL / "bidi" / "model.ckpt"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FORWARD, BACKWARD = "birnn/bidirectional_rnn/fw/gru_cell", "birnn/bidirectional_rnn/bw/gru_cell"

needs_matplotlib = pytest.mark.usefixtures("matplotlib")


@pytest.fixture
def matplotlib():
    return pytest.importorskip("matplotlib")


def plot_json(run, *args):
    result = run("plot", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@needs_matplotlib
def test_png_is_valid_with_nine_panels(run, tmp_path):
    from PIL import Image

    from grutool.plot import DPI, FIGURE_SIZE

    out = tmp_path / "gates.png"
    report = plot_json(run, SINGLE, "--out", out)
    assert report["pages"] == [{"cell": "rnn/gru_cell", "out": str(out), "panels": 9}]
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.size == (round(FIGURE_SIZE[0] * DPI), round(FIGURE_SIZE[1] * DPI))
        # Not a blank canvas: heat maps put many distinct colours on it.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gates.png"]  # no temporary left


@needs_matplotlib
def test_the_figure_shows_the_cells_arrays():
    import grutool
    from grutool.plot import cell_figure, figure_panels

    with grutool.open_checkpoint(SINGLE) as checkpoint:
        cell = checkpoint.cells[0]
        weights = checkpoint.canonical(cell)
    figure = cell_figure(cell, weights)
    assert figure_panels(figure) == 9
    heat_maps = {axes.get_title().split()[0]: axes.images[0].get_array()
                 for axes in figure.axes if axes.images}
    assert set(heat_maps) == {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn"}
    for name, shown in heat_maps.items():
        np.testing.assert_array_equal(np.asarray(shown), weights[name])
    histograms = [axes for axes in figure.axes if axes.patches]
    # Each gate's histogram counts its input and recurrent weights and its bias: 12 + 16 + 4.
    assert [round(sum(p.get_height() for p in axes.patches)) for axes in histograms] == [32] * 3
    assert [axes.get_title().split()[0] for axes in histograms] == ["r", "z", "n"]


@needs_matplotlib
def test_several_cells_one_png_each_in_file_order(run, tmp_path):
    out = tmp_path / "gates.png"
    report = plot_json(run, BIDI, "--out", out)
    assert [(p["cell"], p["out"]) for p in report["pages"]] == [
        (FORWARD, str(out)), (BACKWARD, str(tmp_path / "gates-2.png"))]
    for path in (out, tmp_path / "gates-2.png"):
        assert path.read_bytes()[:8] == PNG_SIGNATURE


@needs_matplotlib
def test_cell_option_draws_only_that_cell(run, tmp_path):
    out = tmp_path / "bw.svg"
    report = plot_json(run, BIDI, "--out", out, "--cell", BACKWARD)
    assert [p["cell"] for p in report["pages"]] == [BACKWARD]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bw.svg"]
    assert b"<svg" in out.read_bytes()[:1000]


@needs_matplotlib
def test_pdf_has_one_page_per_cell(run, tmp_path):
    out = tmp_path / "cells.pdf"
    report = plot_json(run, BIDI, "--out", out)
    assert [p["out"] for p in report["pages"]] == [str(out)] * 2
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 2


@needs_matplotlib
def test_quiet_and_plain_output(run, tmp_path):
    result = run("plot", SINGLE, "--out", tmp_path / "a.png", "--quiet")
    assert result.exit_code == 0 and result.stdout == ""
    result = run("plot", SINGLE, "--out", tmp_path / "b.png")
    assert result.stdout.strip() == f"Wrote 1 cell figure to {tmp_path / 'b.png'}"


@needs_matplotlib
def test_existing_output_needs_force(run, tmp_path):
    out = tmp_path / "gates.png"
    second = tmp_path / "gates-2.png"
    second.write_bytes(b"precious")
    result = run("plot", BIDI, "--out", out)
    # Checked before drawing: the first figure is not written either.
    assert result.exit_code == 2 and "--force" in result.stderr
    assert not out.exists() and second.read_bytes() == b"precious"
    assert run("plot", BIDI, "--out", out, "--force").exit_code == 0
    assert second.read_bytes()[:8] == PNG_SIGNATURE


@needs_matplotlib
def test_never_over_an_input(run, tmp_path):
    # An npz split file is recognised by its content, whatever its name.
    disguised = tmp_path / "weights.pdf"
    assert run("split", SINGLE, "--out", tmp_path / "w.npz").exit_code == 0
    shutil.copy(tmp_path / "w.npz", disguised)
    before = disguised.read_bytes()
    result = run("plot", disguised, "--out", disguised, "--force")
    assert result.exit_code == 2 and "overwrite an input" in result.stderr
    assert disguised.read_bytes() == before


@pytest.mark.parametrize("args, words", [
    (["--out", "gates.jpg"], "cannot tell the output format"),
    (["--out", "gates.png", "--cell", "no/such/cell"], "no cell named 'no/such/cell'"),
])
def test_bad_requests_exit_2_and_write_nothing(run, tmp_path, args, words):
    args = [tmp_path / a if a.startswith("gates") else a for a in args]
    result = run("plot", SINGLE, *args)
    assert result.exit_code == 2 and words in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_gru_cell_exits_1(run, tmp_path):
    path = tmp_path / "dense.npz"
    np.savez(path, dense=np.ones((2, 2), np.float32))
    result = run("plot", path, "--out", tmp_path / "g.png")
    assert result.exit_code == 1 and not (tmp_path / "g.png").exists()


def test_without_matplotlib_names_the_extra(run, tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` fail as if it were not installed.
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run("plot", SINGLE, "--out", tmp_path / "g.png")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "matplotlib" in line and "pip install 'grutool[plot]'" in line
    assert list(tmp_path.iterdir()) == []
