"""The built-in TensorFlow checkpoint reader against checkpoints TensorFlow wrote.

The fixtures (tests/fixtures/make_tf_bundle_fixtures.py) hold, beside each checkpoint, what
`tf.train.load_checkpoint` listed and returned; everything here but the `tensorflow`-marked test
runs without TensorFlow. Arrays are compared as bytes, so NaN payloads and signed zeros count.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from tf_table_writer import proto_field, table_bytes, varint

from grutool.errors import CorruptFileError, GrutoolError, InputError
from grutool.readers import open_source, tf_bundle, tf_table

TF_BUNDLE = FIXTURES / "tf_bundle"
CASES = sorted(p.name for p in TF_BUNDLE.iterdir() if (p / "expected.json").is_file())
BFLOAT16_SUFFIX = "::bfloat16-bits"


def expected(case_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    manifest = json.loads((case_dir / "expected.json").read_text())
    with np.load(case_dir / "expected.npz", allow_pickle=False) as arrays:
        return manifest, dict(arrays)


def assert_matches(source, listing: dict, arrays: dict[str, np.ndarray]) -> None:
    """`source` lists exactly `listing` and reads every tensor bit for bit as `arrays`."""
    assert {t.name: {"shape": list(t.shape), "dtype": t.dtype} for t in source.tensors()} \
        == listing
    for name, info in listing.items():
        if info["dtype"] in ("resource", "variant"):
            with pytest.raises(InputError, match="not numbers"):
                source.read(name)
        elif info["dtype"] == "string":
            strings = source.read_strings(name)
            assert [len(s) for s in strings] == arrays[name + "::string-lengths"].tolist(), name
            assert b"".join(strings) == arrays[name + "::string-bytes"].tobytes(), name
            with pytest.raises(InputError, match="string tensor"):
                source.read(name)
        else:
            array = source.read(name)
            assert array.shape == tuple(info["shape"]), name
            if info["dtype"] == "bfloat16":
                assert array.dtype.name == "bfloat16", name
                want = arrays[name + BFLOAT16_SUFFIX]
            else:
                want = arrays[name]
                assert array.dtype == want.dtype, name
            assert array.tobytes() == want.tobytes(), name


@pytest.mark.parametrize("case", CASES)
def test_builtin_reader_matches_tensorflow(case: str) -> None:
    manifest, arrays = expected(TF_BUNDLE / case)
    with open_source(TF_BUNDLE / case / manifest["open"], reader="builtin") as source:
        assert source.format == "tf-checkpoint"
        assert_matches(source, manifest["tensors"], arrays)


def test_every_case_is_covered() -> None:
    assert set(CASES) >= {"dtypes", "partitioned", "sharded", "savedmodel", "object_graph", "v1"}


def test_partitioned_variables_are_listed_whole() -> None:
    with open_source(TF_BUNDLE / "partitioned" / "model.ckpt", reader="builtin") as source:
        infos = {t.name: t for t in source.tensors()}
        assert infos["big/embedding"].shape == (200, 2)
        assert infos["cols/kernel"].shape == (3, 7)
        assert not any(name.startswith("\x00") or "[" in name for name in infos)


def test_sharded_checkpoint_lists_every_shard() -> None:
    with open_source(TF_BUNDLE / "sharded" / "model.ckpt", reader="builtin") as source:
        assert [f.name for f in source.files] == [
            "model.ckpt.index", "model.ckpt.data-00000-of-00002",
            "model.ckpt.data-00001-of-00002"]
        assert source.read("global_step").item() == 7


@pytest.mark.parametrize("named", ["model.ckpt", "model.ckpt.index",
                                   "model.ckpt.data-00001-of-00002", "."])
def test_any_path_of_a_checkpoint_opens_it(named: str, tmp_path: Path) -> None:
    case = shutil.copytree(TF_BUNDLE / "sharded", tmp_path / "sharded")
    with open_source(case / named, reader="builtin") as source:
        assert source.path == case / "model.ckpt"


def test_checkpoint_directory_follows_its_state_file() -> None:
    with open_source(TF_BUNDLE / "object_graph" / "training", reader="builtin") as source:
        assert source.path.name == "ckpt-2"
        assert "_CHECKPOINTABLE_OBJECT_GRAPH" in source.infos
        assert source.infos["_CHECKPOINTABLE_OBJECT_GRAPH"].dtype == "string"


def test_v1_directory_with_state_file(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    directory.mkdir()
    shutil.copy(TF_BUNDLE / "v1" / "model.ckpt", directory / "model.ckpt")
    (directory / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/model.ckpt"\n')
    manifest, arrays = expected(TF_BUNDLE / "v1")
    with open_source(directory, reader="builtin") as source:
        assert isinstance(source, tf_bundle.V1CheckpointSource)
        assert_matches(source, manifest["tensors"], arrays)


# --- damaged files ------------------------------------------------------------------------------

def copy_case(case: str, tmp_path: Path) -> Path:
    return shutil.copytree(TF_BUNDLE / case, tmp_path / case)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def open_error(path: Path) -> GrutoolError:
    with pytest.raises(GrutoolError) as caught:
        with open_source(path, reader="builtin") as source:
            for info in source.tensors():
                if info.dtype == "string":
                    source.read_strings(info.name)
                elif info.dtype not in ("resource", "variant"):
                    source.read(info.name)
    return caught.value


def test_bad_index_magic(tmp_path: Path) -> None:
    case = copy_case("partitioned", tmp_path)
    index = case / "model.ckpt.index"
    flip_byte(index, index.stat().st_size - 1)
    error = open_error(case / "model.ckpt")
    assert isinstance(error, CorruptFileError)
    assert "model.ckpt.index" in error.one_line() and "magic" in error.one_line()


def test_bad_index_block_crc(tmp_path: Path) -> None:
    case = copy_case("partitioned", tmp_path)
    flip_byte(case / "model.ckpt.index", 20)  # inside the first data block
    error = open_error(case / "model.ckpt")
    assert isinstance(error, CorruptFileError)
    assert "model.ckpt.index" in error.one_line() and "crc32c" in error.one_line()


def test_snappy_block_is_refused_clearly(tmp_path: Path) -> None:
    case = copy_case("partitioned", tmp_path)
    index = case / "model.ckpt.index"
    data = bytearray(index.read_bytes())
    table = tf_table.Table(bytes(data), index)
    offset, size = table.index[0][1]
    # Mark the first data block snappy-compressed, with a trailer crc that still matches.
    data[offset + size] = 1
    data[offset + size + 1:offset + size + 5] = tf_table.masked_crc32c(
        bytes(data[offset:offset + size + 1])).to_bytes(4, "little")
    index.write_bytes(bytes(data))
    error = open_error(case / "model.ckpt")
    assert type(error) is InputError and "snappy" in error.one_line()
    assert "--reader tensorflow" in error.one_line()


def test_truncated_shard(tmp_path: Path) -> None:
    case = copy_case("sharded", tmp_path)
    shard = case / "model.ckpt.data-00000-of-00002"
    with shard.open("r+b") as handle:
        handle.truncate(shard.stat().st_size - 3)
    error = open_error(case / "model.ckpt")
    assert isinstance(error, CorruptFileError)
    assert str(shard) in error.one_line() and "truncated" in error.one_line()


def test_flipped_data_byte_names_the_tensor(tmp_path: Path) -> None:
    case = copy_case("sharded", tmp_path)
    shard = case / "model.ckpt.data-00001-of-00002"
    with open_source(case / "model.ckpt", reader="builtin") as source:
        entry = source._entries["decoder/projection/kernel"]
        assert entry.shard == 1
    flip_byte(shard, entry.offset + 5)
    with open_source(case / "model.ckpt", reader="builtin") as source:
        source.read("decoder/projection/bias")  # the other tensors are intact
        with pytest.raises(CorruptFileError) as caught:
            source.read("decoder/projection/kernel")
    line = caught.value.one_line()
    assert "'decoder/projection/kernel'" in line and str(shard) in line and "crc32c" in line


def test_flipped_string_byte(tmp_path: Path) -> None:
    case = copy_case("object_graph", tmp_path)
    with open_source(case / "training", reader="builtin") as source:
        entry = source._entries["_CHECKPOINTABLE_OBJECT_GRAPH"]
    flip_byte(case / "training" / "ckpt-2.data-00000-of-00001", entry.offset + entry.size - 1)
    error = open_error(case / "training")
    assert isinstance(error, CorruptFileError)
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in error.one_line()


def test_missing_shard(tmp_path: Path) -> None:
    case = copy_case("sharded", tmp_path)
    (case / "model.ckpt.data-00001-of-00002").unlink()
    error = open_error(case / "model.ckpt")
    assert isinstance(error, InputError)
    assert "model.ckpt.data-00001-of-00002" in error.one_line()
    assert "missing" in error.one_line()


def test_corrupt_v1_file(tmp_path: Path) -> None:
    case = copy_case("v1", tmp_path)
    flip_byte(case / "model.ckpt", 40)
    error = open_error(case / "model.ckpt")
    assert isinstance(error, CorruptFileError) and "model.ckpt" in error.one_line()


@pytest.mark.parametrize("case, name", [("partitioned", "model.ckpt.index"),
                                        ("dtypes", "ckpt.index"), ("v1", "model.ckpt")])
def test_every_single_byte_change_of_the_table_is_an_error_or_harmless(
        case: str, name: str, tmp_path: Path) -> None:
    """Whatever byte of an index is damaged, the reader raises a GrutoolError or reads what the
    file says; never a raw exception, never a wrong value passed off as right."""
    directory = copy_case(case, tmp_path)
    manifest, arrays = expected(TF_BUNDLE / case)
    table = directory / name
    original = table.read_bytes()
    # One byte is changed in place and put back: rewriting the whole file per offset costs
    # more than the read on some file systems (a truncate-and-write forces it to disk).
    with open(table, "r+b") as handle:
        for offset in range(len(original)):
            handle.seek(offset)
            handle.write(bytes([original[offset] ^ 0x01]))
            handle.flush()
            try:
                with open_source(directory / manifest["open"], reader="builtin") as source:
                    assert_matches(source, manifest["tensors"], arrays)
            except GrutoolError:
                pass
            except AssertionError:
                # Bytes no check covers (the footer's padding) may change; nothing else may.
                assert offset >= len(original) - tf_table.FOOTER_SIZE, offset
                raise
            handle.seek(offset)
            handle.write(original[offset:offset + 1])
            handle.flush()
    assert table.read_bytes() == original


def test_listing_reads_no_tensor_data(tmp_path: Path) -> None:
    """Listing must not touch the shards' contents: zeroing them breaks only `read`."""
    case = copy_case("dtypes", tmp_path)
    shard = case / "ckpt.data-00000-of-00001"
    shard.write_bytes(bytes(shard.stat().st_size))
    manifest, _ = expected(TF_BUNDLE / "dtypes")
    with open_source(case / "ckpt", reader="builtin") as source:
        assert len(source.tensors()) == len(manifest["tensors"])
        with pytest.raises(CorruptFileError, match="crc32c"):
            source.read("dtypes/float32")


def test_slice_keys_follow_tensorflows_ordered_code() -> None:
    # Keys as TensorFlow 2.21 wrote them for `outer/w` [10, 4] in three row partitions, and
    # for a whole tensor (the V1 writer's `extent {}`, length -1).
    assert tf_bundle.slice_key(b"outer/w", ((0, 4), (0, 4))) == \
        b"\x00outer/w\x00\x01\x01\x02\x80\x84\x80\x84"
    assert tf_bundle.slice_key(b"outer/w", ((4, 3), (0, 4))) == \
        b"\x00outer/w\x00\x01\x01\x02\x84\x83\x80\x84"
    assert tf_bundle.slice_key(b"a", ((0, None),)) == b"\x00a\x00\x01\x01\x01\x80\x7f"


# --- live TensorFlow --------------------------------------------------------------------------

@pytest.mark.tensorflow
def test_regenerated_fixtures_match_tensorflow_live(tmp_path: Path) -> None:
    """Write every case afresh with TensorFlow and compare the built-in reader with
    `tf.train.load_checkpoint` there and then."""
    tf = pytest.importorskip("tensorflow")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, str(FIXTURES / "make_tf_bundle_fixtures.py"), str(tmp_path)],
                   check=True, env=env, capture_output=True)
    for case in CASES:
        manifest, recorded = expected(tmp_path / case)
        with open_source(tmp_path / case / manifest["open"], reader="builtin") as source:
            assert_matches(source, manifest["tensors"], recorded)
            reader = tf.train.load_checkpoint(str(source.path))
            for name, info in manifest["tensors"].items():
                if info["dtype"] in ("string", "resource", "variant"):
                    continue
                try:
                    live = reader.get_tensor(name)
                except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
                    assert case == "v1", name  # TF cannot read V1 float16/complex/partitioned
                    continue
                assert source.read(name).tobytes() == np.asarray(live).tobytes(), (case, name)


# --- hand-built tables: wrong wire types, sizes beyond the file, V1 slices ----------------------

def shape(*dims: int) -> bytes:
    return b"".join(proto_field(2, proto_field(1, size)) for size in dims)


def bundle(tmp_path, header: bytes, entry: bytes):
    """A V2 checkpoint prefix whose index holds `header` and one tensor entry `w`."""
    prefix = tmp_path / "model.ckpt"
    (tmp_path / "model.ckpt.index").write_bytes(table_bytes([(b"", header), (b"w", entry)]))
    (tmp_path / "model.ckpt.data-00000-of-00001").write_bytes(bytes(16))
    return prefix


GOOD_HEADER = proto_field(1, 1) + proto_field(3, proto_field(1, 1))
GOOD_ENTRY = proto_field(1, 1) + proto_field(2, shape(4)) + proto_field(5, 16)


def v1_checkpoint(tmp_path, name: bytes, dtype: int, dims: tuple[int, ...],
                  slices: list[list[tuple[int, int | None]]] | None = None,
                  values: dict[bytes, bytes] | None = None):
    """A V1 single-file checkpoint listing one tensor; `values`: slice key -> TensorProto."""
    from grutool.readers.tf_bundle import slice_key

    if slices is None:
        slices = [[(0, None)] * len(dims)]

    def extent(start, length):
        return proto_field(1, start) + (b"" if length is None else proto_field(2, length))

    slice_messages = b"".join(
        proto_field(4, b"".join(proto_field(1, extent(*e)) for e in box)) for box in slices)
    tensor = proto_field(1, name) + proto_field(2, shape(*dims)) + proto_field(3, dtype) \
        + slice_messages
    entries = [(b"", proto_field(1, proto_field(1, tensor)))]
    for key_extents, proto in (values or {}).items():
        entries.append((key_extents, proto_field(2, proto_field(3, proto))))
    path = tmp_path / "model.ckpt"
    path.write_bytes(table_bytes(entries))
    return path, slice_key


@pytest.mark.parametrize("header, entry", [
    (GOOD_HEADER, proto_field(1, 1) + proto_field(2, 4) + proto_field(5, 16)),  # shape: varint
    (GOOD_HEADER, proto_field(1, 1) + proto_field(2, shape(4)) + proto_field(3, b"\x00")
     + proto_field(5, 16)),  # shard: bytes
    (GOOD_HEADER, proto_field(1, b"\x01") + proto_field(2, shape(4)) + proto_field(5, 16)),
    (proto_field(1, b"\x01") + proto_field(3, proto_field(1, 1)), GOOD_ENTRY),  # num_shards
    (proto_field(1, 1) + proto_field(3, 7), GOOD_ENTRY),  # version: varint
    (proto_field(1, 1) + proto_field(3, b"\xff"), GOOD_ENTRY),  # version: a cut varint
], ids=["shape-varint", "shard-bytes", "dtype-bytes", "header-shards-bytes",
        "header-version-varint", "header-version-damaged"])
def test_wrong_wire_types_with_valid_crcs_are_corrupt_files(tmp_path, header, entry):
    assert open_source(bundle(tmp_path, GOOD_HEADER, GOOD_ENTRY)).read("w").shape == (4,)
    with pytest.raises(CorruptFileError) as raised:
        open_source(bundle(tmp_path, header, entry))
    assert raised.value.path.endswith("model.ckpt.index")


def test_v1_shape_larger_than_the_file_is_refused_before_allocating(tmp_path):
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (1 << 24, 1 << 22))
    assert path.stat().st_size < 400
    with pytest.raises(CorruptFileError, match="more values than"):
        open_source(path).read("w")


def test_v1_uint32_and_uint64_tensors_read(tmp_path):
    for dtype, field, values in ((22, 16, [1, 2**32 - 1]), (23, 17, [3, 2**64 - 1])):
        folder = tmp_path / str(dtype)
        folder.mkdir()
        _, slice_key = v1_checkpoint(folder, b"w", dtype, (2,))
        key = slice_key(b"w", ((0, None),))
        packed = b"".join(varint(v) for v in values)
        path, _ = v1_checkpoint(folder, b"w", dtype, (2,),
                                values={key: proto_field(field, packed)})
        with open_source(path) as source:
            assert source.read("w").tolist() == values


def test_v1_float_sent_as_an_oversized_varint_is_corrupt(tmp_path):
    _, slice_key = v1_checkpoint(tmp_path, b"w", 1, (1,))
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (1,),
                            values={slice_key(b"w", ((0, None),)): proto_field(5, 2**40)})
    with open_source(path) as source, pytest.raises(CorruptFileError, match="does not fit"):
        source.read("w")


def test_many_slices_are_checked_quickly_and_too_many_refused(tmp_path):
    count = 4000
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (count,), [[(k, 1)] for k in range(count)])
    started = time.perf_counter()
    with open_source(path) as source:
        assert source.tensors()[0].shape == (count,)
    assert time.perf_counter() - started < 2.0  # 7 s with the pairwise Python loop
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (5000,), [[(k, 1)] for k in range(5000)])
    with pytest.raises(CorruptFileError, match="5000 slices"):
        open_source(path)


def test_overlapping_slices_are_still_found(tmp_path):
    # Volumes add up to the tensor's (2 + 2 = 4), but [1:3] overlaps [0:2] and 3 is uncovered.
    path, _ = v1_checkpoint(tmp_path, b"w", 1, (4, 3), [[(0, 2), (0, None)], [(1, 2), (0, None)]])
    with pytest.raises(CorruptFileError, match="overlap"):
        open_source(path)


def test_dangling_index_symlink_in_a_checkpoint_directory(tmp_path):
    source = FIXTURES / "tf_bundle" / "v1" / "model.ckpt"
    (tmp_path / "stale.index").symlink_to(tmp_path / "gone.index")
    with pytest.raises(InputError):
        open_source(tmp_path)
    shutil.copy(source, tmp_path / "model.ckpt")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    with open_source(tmp_path) as opened:
        assert opened.tensors()
