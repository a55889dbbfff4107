"""The CLI is the library plus rendering: each command's library call gives the JSON the
command prints (paths and the `ok` flag the CLI adds aside)."""

from __future__ import annotations

import json

from conftest import FIXTURES, TF_GRU_CELL

import grutool.api as api

STACK, SINGLE = TF_GRU_CELL / "stack2", TF_GRU_CELL / "single"
KERAS = FIXTURES / "keras" / "k3_bidirectional" / "model.keras"


def _cli(run, *args):
    result = run(*args, "--json")
    return json.loads(result.stdout)


def _same(library: dict, cli: dict) -> None:
    cli = {key: value for key, value in cli.items() if key not in ("ok", "error")}
    library = {key: value for key, value in library.items() if key not in ("ok", "error")}
    assert library == cli


def test_inspect(run):
    with api.open_checkpoint(STACK) as checkpoint:
        _same(api.inspect_report(checkpoint), _cli(run, "inspect", STACK))


def test_verify(run):
    _same(api.verify_files(STACK, STACK).to_json(), _cli(run, "verify", STACK, STACK))


def test_check(run):
    library = api.check_file(STACK, cells=2, units=4, match=STACK).to_json()
    _same(library, _cli(run, "check", STACK, "--cells", 2, "--units", 4, "--match", STACK))
    assert library["ok"] is True


def test_check_that_fails(run):
    library = api.check_file(SINGLE, cells=3).to_json()
    assert library["ok"] is False
    _same(library, _cli(run, "check", SINGLE, "--cells", 3))


def test_diff(run):
    _same(api.diff_files(SINGLE, SINGLE).to_json(), _cli(run, "diff", SINGLE, SINGLE))


def test_explain(run):
    _same(api.explain_file(KERAS), _cli(run, "explain", KERAS))
