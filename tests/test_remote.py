"""Checkpoints at URLs: a real HTTP server on 127.0.0.1 that honours Range (tests/range_server.py)
and fsspec's in-memory file system. Every format reads the same cells and the same arrays as
from local disk; the server's log shows what crossed the wire; network failures are one line,
exit 2, nothing written; credentials never appear in output or metadata."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import fsspec
import numpy as np
import pytest
from click.testing import CliRunner
from range_server import RangeServer

from grutool.api import split_arrays
from grutool.checkpoint import open_checkpoint
from grutool.cli import cli
from grutool.errors import GrutoolError
from grutool.remote import clear_caches

FIXTURES = Path(__file__).parent / "fixtures"

# One input of every shape a user gives: files of every format, TF prefixes, .index files,
# checkpoint directories (their `checkpoint` state file), SavedModel directories.
INPUTS = [
    "tf_gru_cell/single/",
    "tf_gru_cell/stack2/model.ckpt",
    "tf_gru_cell/stack2/model.ckpt.index",
    "tf_bundle/sharded/model.ckpt",
    "tf_bundle/partitioned/model.ckpt",
    "tf_bundle/v1/model.ckpt",
    "tf_bundle/object_graph/training/",
    "tf_bundle/savedmodel/saved_model/",
    "tf_other_cells/gru_block_cell/",
    "wild/tf1_ema/model.ckpt",
    "wild/tfk_saved_model/saved_model/",
    "keras/k3_stacked/model.keras",
    "keras/k3_stacked/model.weights.h5",
    "keras/tfk_stack/model.h5",
    "keras/tfk_stack/model.keras",
    "keras/tfk_model/weights.h5",
    "pytorch/gru_bidir_2layer.safetensors",
    pytest.param("flax/rnn_gru.msgpack", marks=pytest.mark.flax),
    "flax/rnn_gru_dotted.npz",
    pytest.param("pytorch/gru_bidir_2layer.pt", marks=pytest.mark.torch),
    pytest.param("pytorch/gru_nobias.pt", marks=pytest.mark.torch),
    pytest.param("pytorch/batch_first_checkpoint.pt", marks=pytest.mark.torch),
    pytest.param("pytorch/gru_cell_legacy.pt", marks=pytest.mark.torch),
    pytest.param("onnx/torch_gru_bidir_2layer.onnx", marks=pytest.mark.onnx),
]


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test fetches what it needs itself, not what an earlier test left cached."""
    clear_caches()


@pytest.fixture(scope="module")
def server():
    with RangeServer(FIXTURES) as running:
        yield running


@pytest.fixture(scope="module")
def memory_fixtures():
    """The fixtures copied into fsspec's in-memory file system, under memory://fixtures/."""
    memory = fsspec.filesystem("memory")
    for path in FIXTURES.rglob("*"):
        if path.is_file():
            memory.pipe(f"/fixtures/{path.relative_to(FIXTURES).as_posix()}", path.read_bytes())
    yield "memory://fixtures/"
    memory.rm("/fixtures", recursive=True)


def _read(where: str | Path) -> tuple[list, dict[str, np.ndarray]]:
    """The cells and modules found, and every tensor of the file, as read from `where`."""
    with open_checkpoint(where) as checkpoint:
        structure = [cell.to_json() for cell in checkpoint.cells]
        structure += [module.to_json() for module in checkpoint.modules]
        source = checkpoint.source
        tensors = {name: (np.frombuffer(b"".join(source.read_strings(name)), np.uint8)
                          if info.dtype == "string" else source.read(name))
                   for name, info in source.infos.items()}
        return structure, tensors | split_arrays(checkpoint)


def _assert_same_as_local(relative: str, url: str) -> None:
    local_structure, local_arrays = _read(FIXTURES / relative)
    structure, arrays = _read(url)
    assert local_arrays, f"{relative} should hold tensors"
    assert structure == local_structure
    assert list(arrays) == list(local_arrays)
    for name, array in local_arrays.items():
        assert arrays[name].dtype == array.dtype and np.array_equal(arrays[name], array), name


@pytest.mark.parametrize("relative", INPUTS)
def test_http_reads_what_local_disk_reads(server, relative):
    server.log.clear()
    _assert_same_as_local(relative, server.url(relative))
    assert server.log.bytes_sent > 0  # it really went through the server


@pytest.mark.parametrize("relative", INPUTS)
def test_memory_filesystem_reads_what_local_disk_reads(memory_fixtures, relative):
    _assert_same_as_local(relative, memory_fixtures + relative)


def _data_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.data-*"))


def test_inspect_without_stats_reads_no_weights(server):
    """The TF index tells names, shapes and dtypes: no byte of a data shard is fetched."""
    directory = FIXTURES / "tf_gru_cell/stack2"
    server.log.clear()
    result = CliRunner().invoke(cli, ["inspect", "--no-stats", "--json",
                                      server.url("tf_gru_cell/stack2/model.ckpt")])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["cells"]) == 2
    fetched = {path.rsplit("/", 1)[-1]: sent for _, path, _, sent in server.log.entries if sent}
    assert not any(".data-" in name for name in fetched), fetched
    assert server.log.bytes_sent <= (directory / "model.ckpt.index").stat().st_size
    assert _data_bytes(directory) > 0


def test_split_reads_only_the_gru_tensors(server, tmp_path):
    """tf1_ema holds each GRU tensor twice (the moving averages): a split of the trained
    weights fetches the GRU ranges only, not the whole shard."""
    from grutool.readers import open_source

    relative = "wild/tf1_ema/model.ckpt"
    with open_checkpoint(FIXTURES / relative) as checkpoint:
        gru_bytes = sum(checkpoint.source.infos[name].nbytes or 0
                        for cell in checkpoint.cells for name in cell.source_tensors)
    with open_source(FIXTURES / relative) as source:
        all_bytes = sum(info.nbytes or 0 for info in source.infos.values())
    index_bytes = (FIXTURES / (relative + ".index")).stat().st_size
    assert gru_bytes < all_bytes
    server.log.clear()
    out = tmp_path / "w.npz"
    result = CliRunner().invoke(cli, ["split", server.url(relative), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert server.log.bytes_sent <= index_bytes + 1.1 * gru_bytes, server.log.entries
    written = np.load(out)
    with open_checkpoint(FIXTURES / relative) as checkpoint:
        for name, array in split_arrays(checkpoint).items():
            assert np.array_equal(written[name], array), name


# -- failures: one line, exit 2, nothing written ------------------------------------------

def _split_fails(url: str, tmp_path: Path) -> str:
    out = tmp_path / "w.npz"
    result = CliRunner().invoke(cli, ["split", url, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
    return lines[0]


def test_server_that_ignores_range(server, tmp_path):
    line = _split_fails(server.url("tf_gru_cell/stack2/model.ckpt", mode="norange"), tmp_path)
    assert "Range" in line and "/norange/tf_gru_cell/stack2/model.ckpt" in line


def test_not_found(server, tmp_path):
    line = _split_fails(server.url("tf_gru_cell/nothing/model.keras"), tmp_path)
    assert "no such file" in line and "nothing/model.keras" in line


def test_forbidden(server, tmp_path):
    line = _split_fails(server.url("keras/k3_stacked/model.keras", mode="forbidden"), tmp_path)
    assert "403" in line and "access denied" in line


def _big_safetensors(directory: Path) -> Path:
    """A Keras-named GRU of 96 units over 80 inputs as .safetensors: its kernels (90 and 108
    KiB) are larger than a block and than the drop server's cut-off."""
    from grutool.writers import write_arrays

    rng = np.random.default_rng(0)
    units, inputs = 96, 80
    arrays = {"gru/kernel": rng.standard_normal((inputs, 3 * units)).astype(np.float32),
              "gru/recurrent_kernel": rng.standard_normal((units, 3 * units)).astype(np.float32),
              "gru/bias": rng.standard_normal((2, 3 * units)).astype(np.float32)}
    directory.mkdir()
    write_arrays(directory / "big.safetensors", arrays, {})
    return directory / "big.safetensors"


def test_connection_dropped_mid_tensor(tmp_path):
    """A tensor bigger than the server's cut-off: the response stops halfway through it."""
    served = _big_safetensors(tmp_path / "served")
    assert open_checkpoint(served).cells  # readable locally
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with RangeServer(served.parent) as running:
        line = _split_fails(running.url("big.safetensors", mode="drop"), out_dir)
    assert "big.safetensors" in line and ("dropped" in line or "sent" in line), line


def test_connection_refused(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = _split_fails(f"http://127.0.0.1:{port}/model.keras", tmp_path)
    assert "cannot connect" in line


def test_output_to_a_url_is_refused(server, tmp_path):
    result = CliRunner().invoke(cli, ["split", str(FIXTURES / "keras/k3_stacked/model.keras"),
                                      "--out", server.url("w.npz")])
    assert result.exit_code == 2 and "outputs are written to local files" in result.output


# -- credentials --------------------------------------------------------------------------

def test_credentials_never_printed_nor_stored(server, tmp_path):
    url = server.url("keras/k3_stacked/model.keras").replace("http://", "http://user:hunter2@")
    url += "?X-Signature=s3cr3t"
    out = tmp_path / "w.npz"
    result = CliRunner().invoke(cli, ["split", url, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    metadata = np.load(out)["__grutool__"].item()
    assert json.loads(metadata)["source"] == server.url("keras/k3_stacked/model.keras")
    for secret in ("hunter2", "s3cr3t", "X-Signature"):
        assert secret not in result.output and secret not in metadata
    failed = CliRunner().invoke(cli, ["inspect", url.replace("model.keras", "gone.keras")])
    assert failed.exit_code == 2 and "s3cr3t" not in failed.output and "hunter2" not in failed.output


def test_library_error_names_the_url(server):
    with pytest.raises(GrutoolError) as caught:
        open_checkpoint(server.url("keras/k3_stacked/missing.h5"))
    assert caught.value.path == server.url("keras/k3_stacked/missing.h5")


def test_server_that_never_answers(tmp_path, monkeypatch):
    """A server that accepts the connection and says nothing: the timeout, one line."""
    monkeypatch.setenv("GRUTOOL_NETWORK_TIMEOUT", "0.1")
    with socket.socket() as silent:  # the kernel completes the handshake; no one answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        line = _split_fails(f"http://127.0.0.1:{port}/model.keras", tmp_path)
    assert "did not answer in time" in line and "GRUTOOL_NETWORK_TIMEOUT" in line


def test_progress_bar_shows_the_bytes_fetched(server):
    from rich.console import Console
    from rich.progress import Progress

    from grutool.remote import TRANSFER, reset_transfer
    from grutool.render import _fetched_column

    reset_transfer()
    server.log.clear()
    column = _fetched_column()
    with open(os.devnull, "w") as sink, Progress(column, console=Console(file=sink)) as progress:
        progress.add_task("reading")
        task = progress.tasks[0]
        before = column.render(task).plain
        with open_checkpoint(server.url("keras/k3_stacked/model.keras")) as checkpoint:
            split_arrays(checkpoint)
        after = column.render(task).plain
    assert before == ""  # nothing fetched yet: a local read shows no column text
    assert TRANSFER.bytes == server.log.bytes_sent > 0
    assert after.endswith(" fetched") and after != before


def test_progress_line_fits_80_columns(monkeypatch):
    """On an 80-column terminal the bar, the count, the time and the bytes fetched stay whole
    on one line; a long cell name is what gives way."""
    import io
    import re

    from rich.console import Console

    from grutool import remote, render

    screen = io.StringIO()
    monkeypatch.setattr(render, "console", lambda stderr=False: Console(
        file=screen, width=80, force_terminal=True, color_system=None))
    monkeypatch.setattr(remote.TRANSFER, "bytes", 12_620_648)
    names = [f"encoder/rnn/multi_rnn_cell/cell_{k}/gru_cell" for k in range(3)]
    for _ in render.track_cells(names, "reading", True, delay=0):
        time.sleep(0.04)  # rich redraws ten times a second; it draws once more as it stops
    render_frame = screen.getvalue()
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line)
              for line in re.split(r"[\r\n]", render_frame) if "reading" in line]
    assert frames, render_frame
    for frame in frames:
        assert len(frame.rstrip()) <= 80, frame
        assert "12.0 MiB fetched" in frame and re.search(r"\d/3 \d:\d\d:\d\d ", frame), frame


def test_file_urls_are_local_paths():
    from grutool.remote import location

    local = FIXTURES / "keras/k3_stacked/model.keras"
    assert location(local.as_uri()) == local
    assert _read(local.as_uri())[0] == _read(local)[0]


def test_damaged_tensor_fails_its_crc_over_http(tmp_path):
    """The shard's bytes fetched by range are checked as on disk: one flipped byte inside a
    GRU tensor is exit 2 naming the crc32c, with nothing written."""
    import shutil

    from grutool.readers import open_source

    served = tmp_path / "served"
    shutil.copytree(FIXTURES / "tf_gru_cell/single", served)
    with open_checkpoint(served / "model.ckpt") as checkpoint:
        kernel = next(name for name in checkpoint.cells[0].source_tensors if name.endswith("kernel"))
    with open_source(served / "model.ckpt") as source:
        entry = source._entries[kernel]
    shard = served / "model.ckpt.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[entry.offset + entry.size // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with RangeServer(served) as running:
        line = _split_fails(running.url("model.ckpt"), out_dir)
    assert "crc32c" in line and kernel in line


def test_safetensors_without_stats_reads_the_header_only(tmp_path):
    """Names and shapes come from the header: a file of several blocks, of which only the
    first (holding the header) is fetched, and the 8 bytes that tell a TF V1 file."""
    from grutool.remote import BLOCK

    served = _big_safetensors(tmp_path / "served")
    header_end = 8 + int.from_bytes(served.read_bytes()[:8], "little")
    assert header_end < BLOCK < served.stat().st_size / 3
    with RangeServer(served.parent) as running:
        result = CliRunner().invoke(cli, ["inspect", "--no-stats", "--json",
                                          running.url(served.name)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["cells"][0]["hidden_size"] == 96
        # the first block, and the last 8 bytes (is it a TF V1 checkpoint? they say)
        assert 0 < running.log.bytes_sent <= BLOCK + 8, running.log.entries


def test_protocol_libraries_logs_stay_off_stderr():
    """gcsfs, s3fs and fsspec log warnings and retry tracebacks; unconfigured, Python prints
    them on stderr around grutool's one-line error. In a process of its own: pytest's log
    capture would hide them here."""
    import subprocess
    import sys

    script = (
        "import logging, fsspec\n"
        "from grutool.checkpoint import open_checkpoint\n"
        f"fsspec.filesystem('memory').pipe('/logs/m.keras', open({str(FIXTURES / 'keras/k3_stacked/model.keras')!r}, 'rb').read())\n"
        "open_checkpoint('memory://logs/m.keras').close()\n"
        "for name in ('gcsfs', 's3fs', 'fsspec', 'aiohttp'):\n"
        "    logging.getLogger(name).warning('_request out of retries on exception')\n"
        "print('done')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr
    assert result.stderr == ""



# -- torch.save zips at a URL: read without torch, one range per tensor --------------------

@pytest.mark.parametrize("stem", ["gru_bidir_2layer", "gru_nobias", "batch_first"])
def test_pt_at_a_url_is_read_without_torch(server, monkeypatch, stem):
    """PyTorch wrote each .pt beside a .safetensors of the same tensors: at a URL the .pt is
    read by grutool's restricted unpickler (torch cannot even be imported here) and gives
    the same tensors, bit for bit."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    pt = "pytorch/" + ("batch_first_checkpoint" if stem == "batch_first" else stem) + ".pt"
    _, remote = _read(server.url(pt))
    _, twin = _read(FIXTURES / f"pytorch/{stem}.safetensors")
    assert sorted(remote) == sorted(twin)  # safetensors keeps names sorted, torch.save in order
    for name, array in twin.items():
        assert remote[name].dtype == array.dtype and np.array_equal(remote[name], array), name


@pytest.mark.torch
def test_pt_split_fetches_the_gru_tensors_not_the_file(tmp_path):
    import torch

    torch.manual_seed(0)
    state = dict(torch.nn.GRU(64, 64, num_layers=2).state_dict())
    gru_bytes = sum(t.numel() * t.element_size() for t in state.values())
    state["embedding.weight"] = torch.randn(4096, 256)  # 4 MiB that no GRU needs
    served = tmp_path / "served"
    served.mkdir()
    torch.save(state, served / "model.pt")
    with RangeServer(served) as running:
        url = running.url("model.pt")
        listed = CliRunner().invoke(cli, ["inspect", "--no-stats", "--json", url])
        assert listed.exit_code == 0, listed.output
        listing_bytes = running.log.bytes_sent
        running.log.clear()
        clear_caches()
        out = tmp_path / "w.npz"
        result = CliRunner().invoke(cli, ["split", url, "--out", str(out)])
        assert result.exit_code == 0, result.output
        split_bytes = running.log.bytes_sent
    assert listing_bytes < 128 * 1024 < (served / "model.pt").stat().st_size / 16
    # the listing again, then each GRU tensor's bytes and its 30-byte local header
    assert split_bytes <= listing_bytes + 1.1 * gru_bytes, (split_bytes, listing_bytes, gru_bytes)
    with open_checkpoint(served / "model.pt") as checkpoint:  # torch.load's reading
        for name, array in split_arrays(checkpoint).items():
            assert np.array_equal(np.load(out)[name], array), name


def test_pt_pickle_naming_code_is_refused_unrun(tmp_path):
    """A data.pkl that would call os.system: refused by name at the global, never called."""
    import pickle
    import zipfile

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "evil.pt", "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"weight": Payload()}, protocol=2))
        archive.writestr("evil/version", "3\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with RangeServer(served) as running:
        line = _split_fails(running.url("evil.pt"), out_dir)
    assert "will not unpickle" in line and "system" in line, line
    assert not marker.exists()


def test_a_url_rewritten_between_two_openings_is_read_anew(memory_fixtures, tmp_path):
    """Same name, same size, new weights: the second opening must not see the first's
    cached blocks (a training job overwrites `latest.weights.h5` in place). HDF5's small
    reads are the ones that go through the block cache."""
    import h5py

    memory = fsspec.filesystem("memory")
    original = FIXTURES / "keras/k3_stacked/model.weights.h5"
    url = memory_fixtures + "rewritten.weights.h5"
    memory.pipe("/fixtures/rewritten.weights.h5", original.read_bytes())
    _, before = _read(url)
    changed = tmp_path / "changed.weights.h5"
    changed.write_bytes(original.read_bytes())
    with h5py.File(changed, "r+") as handle:  # every weight negated in place
        handle.visititems(lambda name, obj: obj.write_direct(-obj[()])
                          if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" else None)
    assert changed.stat().st_size == original.stat().st_size
    memory.pipe("/fixtures/rewritten.weights.h5", changed.read_bytes())
    _, after = _read(url)
    kernels = [name for name in before if name.endswith("W_ir")]
    assert kernels and all(np.array_equal(after[name], -before[name]) for name in kernels)
