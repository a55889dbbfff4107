"""Generate the hostile-input corpus from the committed fixtures (deterministic).

    python tests/hostile/make_corpus.py

Every case is a damaged or malicious variant of a real fixture (truncated, bit-flipped,
re-encoded with absurd sizes, wrapped in a zip bomb, …) written to `corpus/`, plus
`corpus/manifest.json`: case -> path (relative to corpus/), the exit code `grutool inspect`
must give (2: unreadable or hostile; 1: valid but holds no GRU cell), the text that must
appear in its one-line error, and whether it is a "would run code" case (its marker file
must never appear).

The HDF5 and .keras bases are made here from the TF fixture's arrays (written with h5py,
timestamps off) because no HDF5 fixture is committed; everything else starts from bytes in
tests/fixtures/.
Runs are byte-identical except for h5/virtual_dataset.h5, in which the HDF5 library leaves a
few bytes of the virtual-dataset heap uninitialised (they vary, and mean nothing).
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = HERE / "corpus"
MARKER = "GRUTOOL_PWNED"  # a pickle that runs would create this file in the working folder
TF_SINGLE = FIXTURES / "tf_gru_cell" / "single"

sys.path.insert(0, str(HERE.parent))  # tests/, for the shared index writer
from tf_table_writer import footer, proto_field, table_bytes  # noqa: E402

# A fixed timestamp keeps zip members byte-identical between runs.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)

sys.path.insert(0, str(ROOT))

manifest: dict[str, dict] = {}


def add(case: str, relative: str, data: bytes | None, exit_code: int, description: str,
        name_in_error: str | None = None, code_marker: bool = False) -> None:
    """Write `data` to corpus/`relative` (None: the caller wrote it) and record the case."""
    target = CORPUS / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        target.write_bytes(data)
    assert case not in manifest, case
    manifest[case] = {"path": relative, "exit": exit_code, "description": description,
                      "name_in_error": name_in_error or Path(relative).name,
                      "marker": MARKER if code_marker else None}


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= mask
    return bytes(changed)


def zip_bytes(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = compression
            archive.writestr(info, payload)
    return buffer.getvalue()


def declare_sizes(archive: bytes, sizes: dict[str, int]) -> bytes:
    """`archive` with the central directory declaring `sizes` (uncompressed) for the named
    members: what a bomb declares, without the bytes to back it."""
    changed = bytearray(archive)
    pos = changed.find(b"PK\x01\x02")
    while pos != -1:
        name_length = struct.unpack_from("<H", changed, pos + 28)[0]
        name = changed[pos + 46:pos + 46 + name_length].decode()
        if name in sizes:
            struct.pack_into("<I", changed, pos + 24, sizes[name])
        pos = changed.find(b"PK\x01\x02", pos + 46)
    return bytes(changed)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header for any declared dtype and shape, without data."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape})
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


# A protocol-0 pickle that calls os.system; never unpickled by grutool, so never run.
EVIL_PICKLE = f"cos\nsystem\n(V touch {MARKER}\ntR.".encode()


# --- TensorFlow -------------------------------------------------------------------------

def bundle_entry(dtype: int, shape: list[int], shard: int, offset: int, size: int,
                 crc: int | None) -> bytes:
    shape_proto = b"".join(proto_field(2, proto_field(1, dim)) for dim in shape)
    message = proto_field(1, dtype) + proto_field(2, shape_proto)
    message += proto_field(3, shard) + proto_field(4, offset) + proto_field(5, size)
    if crc is not None:
        message += proto_field(6, crc, wire=5)
    return message


def tf_entries() -> list[tuple[bytes, bytes]]:
    from grutool.readers.tf_table import Table

    index = (TF_SINGLE / "model.ckpt.index").read_bytes()
    return [(bytes(k), bytes(v)) for k, v in Table(index, TF_SINGLE / "x").entries()]


def tf_case(case: str, description: str, index: bytes | None, data: bytes | None,
            exit_code: int = 2) -> None:
    """A checkpoint folder `tf/<case>/` holding model.ckpt.index and/or its data shard."""
    folder = CORPUS / "tf" / case
    folder.mkdir(parents=True, exist_ok=True)
    if index is not None:
        (folder / "model.ckpt.index").write_bytes(index)
    if data is not None:
        (folder / "model.ckpt.data-00000-of-00001").write_bytes(data)
    add(case, f"tf/{case}/model.ckpt", None, exit_code, description, name_in_error="model.ckpt")


def make_tf_cases() -> None:
    index = (TF_SINGLE / "model.ckpt.index").read_bytes()
    data = (TF_SINGLE / "model.ckpt.data-00000-of-00001").read_bytes()
    for offset in (0, 1, 20, 47, len(index) // 2, len(index) - 48, len(index) - 1):
        tf_case(f"tf_index_truncated_{offset}", f".index cut to {offset} bytes",
                index[:offset], data)
    for offset in (0, 8, len(data) // 2, len(data) - 1):
        tf_case(f"tf_data_truncated_{offset}", f".data shard cut to {offset} bytes", index,
                data[:offset])
    tf_case("tf_index_bitflip_block", "a bit flipped inside the index's data block (crc32c)",
            flip(index, 40), data)
    tf_case("tf_index_bitflip_trailer", "a bit flipped in a block's crc trailer",
            flip(index, len(index) - 48 - 1), data)
    tf_case("tf_index_wrong_magic", "the table footer's magic number is wrong",
            index[:-8] + b"NOTMAGIC", data)
    # Footer handles that point past the end of the file.
    tf_case("tf_footer_handles_past_end", "the footer's index handle points past the file",
            index[:-48] + footer((0, 0), (1 << 40, 1 << 30), 0xDB4775248B80FB57), data)
    tf_case("tf_footer_handles_overflow", "the footer's varints run into the magic",
            index[:-48] + b"\xff" * 40 + index[-8:], data)
    # Bit flips in the tensor bytes of a cell variable: the crc32c check must catch them.
    from grutool.readers.tf_bundle import TensorBundleSource

    source = TensorBundleSource(TF_SINGLE / "model.ckpt")
    kernel = source._entries["rnn/gru_cell/gates/kernel"]
    source.close()
    tf_case("tf_data_bitflip_kernel", "a bit flipped in gates/kernel's bytes (crc32c mismatch)",
            index, flip(data, kernel.offset + 5, 0x10))
    tf_case("tf_data_missing", "the data shard is missing", index, None)
    # Entries re-encoded with absurd sizes, in a well-formed table.
    entries = tf_entries()
    key = b"rnn/gru_cell/gates/kernel"

    def with_entry(entry: bytes) -> bytes:
        return table_bytes([(k, entry if k == key else v) for k, v in entries])

    tf_case("tf_entry_size_beyond_shard", "gates/kernel declares 2^40 bytes at offset 488",
            with_entry(bundle_entry(1, [7, 8], 0, 488, 1 << 40, 0)), data)
    tf_case("tf_entry_offset_beyond_shard", "gates/kernel declares offset 2^62",
            with_entry(bundle_entry(1, [7, 8], 0, 1 << 62, 224, 0)), data)
    tf_case("tf_entry_shape_2e40", "gates/kernel declares shape [2^40, 2^40]",
            with_entry(bundle_entry(1, [1 << 40, 1 << 40], 0, 488, 224, 0)), data)
    tf_case("tf_entry_shape_2e40_size_matching",
            "gates/kernel declares shape [2^40, 8] and a size to match",
            with_entry(bundle_entry(1, [1 << 40, 8], 0, 488, (1 << 40) * 32, 0)), data)
    tf_case("tf_entry_negative_dim", "gates/kernel declares a dimension of -1",
            with_entry(bundle_entry(1, [(1 << 64) - 1, 8], 0, 488, 224, 0)), data)
    tf_case("tf_entry_shard_99", "gates/kernel names shard 99 of 1",
            with_entry(bundle_entry(1, [7, 8], 99, 488, 224, 0)), data)
    header = dict(entries)[b""]
    tf_case("tf_header_many_shards", "the bundle header claims 10^9 shards",
            table_bytes([(b"", proto_field(1, 10**9) + header[2:])] + entries[1:]), data)
    # A checkpoint folder whose state file names a prefix that is not there.
    folder = CORPUS / "tf" / "state_names_missing_prefix"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-999"\n'
                                       'all_model_checkpoint_paths: "model.ckpt-999"\n')
    add("tf_state_names_missing_prefix", "tf/state_names_missing_prefix", None, 2,
        "a `checkpoint` state file naming a prefix with no files",
        name_in_error="state_names_missing_prefix")
    folder = CORPUS / "no_checkpoint_dir"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text("A folder with no checkpoint in it.\n")
    add("directory_without_checkpoint", "no_checkpoint_dir", None, 2,
        "a directory holding no checkpoint", name_in_error="no_checkpoint_dir")


# --- npz --------------------------------------------------------------------------------

def make_npz_cases() -> None:
    base = (FIXTURES / "flax" / "rnn_gru_dotted.npz").read_bytes()
    for offset in (4, 30, 200, len(base) // 2, len(base) - 22, len(base) - 1):
        add(f"npz_truncated_{offset}", f"npz/truncated_{offset}.npz", base[:offset], 2,
            f"the Flax .npz fixture cut to {offset} bytes")
    add("npz_text_file", "npz/text.npz", b"this is not a zip archive\n" * 4, 2,
        "a text file named .npz")
    add("npz_wrong_magic", "npz/wrong_magic.npz", b"PK\x05\x06" + base[4:], 2,
        "the zip local-header magic replaced")
    with zipfile.ZipFile(FIXTURES / "flax" / "rnn_gru_dotted.npz") as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    first_name, first_payload = members[0]
    # Bit flip inside a stored member: the zip CRC-32 must catch it on read.
    flipped = zip_bytes(members)
    position = flipped.index(first_payload) + len(first_payload) - 3
    add("npz_member_bitflip", "npz/member_bitflip.npz", flip(flipped, position), 2,
        f"a bit flipped in {first_name}'s data (zip CRC-32 mismatch)")
    huge = npy_header("<f4", (1 << 40, 1 << 40)) + b"\x00" * 64
    add("npz_member_huge_shape", "npz/huge_shape.npz",
        zip_bytes([(n, huge if n == first_name else p) for n, p in members]), 2,
        f"{first_name} declares shape (2^40, 2^40) over 64 bytes")
    big = npy_header("<f4", (1 << 17, 1 << 12)) + b"\x00" * 64
    add("npz_member_2gib_shape", "npz/2gib_shape.npz",
        zip_bytes([(n, big if n == first_name else p) for n, p in members]), 2,
        f"{first_name} declares 2 GiB of float32 over 64 bytes")
    evil = npy_header("|O", (3, 4)) + b"\x80\x02" + EVIL_PICKLE
    add("npz_object_array", "npz/object_array.npz",
        zip_bytes([(n, evil if "ir.kernel" in n else p) for n, p in members]), 2,
        "a GRU kernel stored as an object array whose pickle runs os.system",
        code_marker=True)
    add("npz_object_metadata", "npz/object_metadata.npz",
        zip_bytes([("__grutool__.npy", npy_header("|O", ()) + EVIL_PICKLE)]), 1,
        "only a __grutool__ object array (a pickle calling os.system)", code_marker=True)
    # Inflating 1000x is no fault (an honest array of zeros does it); a member inflating
    # past what its own header declares is.
    bomb = npy_header("<f4", (4,)) + bytes(50 * 2**20)
    add("npz_zip_bomb", "npz/zip_bomb.npz",
        zip_bytes([("bomb.npy", bomb)], zipfile.ZIP_DEFLATED), 2,
        "a deflated member inflating 50 MiB of zeros under a header declaring 4 floats")
    add("npz_many_members", "npz/many_members.npz",
        zip_bytes([(f"{k:04d}", b"") for k in range(1500)]), 1,
        "1500 empty members, none an array")
    add("npz_path_escape", "npz/path_escape.npz",
        zip_bytes([("../evil.npy", npy_bytes(np.zeros(3, np.float32))), *members]), 2,
        "a member named ../evil.npy")
    add("npz_absolute_member", "npz/absolute_member.npz",
        zip_bytes([("/tmp/evil.npy", npy_bytes(np.zeros(3, np.float32))), *members]), 2,
        "a member with an absolute name")
    reference = np.load(TF_SINGLE / "reference.npz")
    unrelated = {"conv1/weights": reference["x"].astype(np.float32),
                 "dense/kernel": reference["outputs/rnn/gru_cell"].reshape(12, 4)}
    buffer = io.BytesIO()
    np.savez(buffer, **unrelated)
    add("npz_not_gru", "npz/not_gru.npz", buffer.getvalue(), 1,
        "a valid .npz of unrelated tensors")
    add("npz_empty", "npz/empty.npz", b"", 2, "an empty file named .npz")


# --- HDF5 and .keras --------------------------------------------------------------------

def canonical_arrays() -> dict[str, np.ndarray]:
    from grutool.api import open_checkpoint, split_arrays

    with open_checkpoint(TF_SINGLE / "model.ckpt") as checkpoint:
        return split_arrays(checkpoint)


def write_h5(path: Path, arrays: dict[str, np.ndarray], extra=None) -> bytes:
    import h5py

    with h5py.File(path, "w", libver="earliest", track_order=False) as handle:
        for name, array in arrays.items():
            handle.create_dataset(name, data=array, track_times=False)
        if extra is not None:
            extra(handle)
    return path.read_bytes()


def make_h5_cases(scratch: Path) -> None:
    import h5py

    arrays = canonical_arrays()
    base = write_h5(scratch / "base.h5", arrays)
    for offset in (8, 100, 700, len(base) // 2, len(base) - 1):
        add(f"h5_truncated_{offset}", f"h5/truncated_{offset}.h5", base[:offset], 2,
            f"an HDF5 file of GRU arrays cut to {offset} bytes")
    add("h5_wrong_magic", "h5/wrong_magic.h5", b"\x89HDX" + base[4:], 2,
        "the HDF5 signature damaged")
    add("h5_superblock_bitflip", "h5/superblock_bitflip.h5", flip(base, 40, 0xFF), 2,
        "a byte of the superblock's addresses damaged")
    add("h5_empty", "h5/empty.h5", b"", 2, "an empty file named .h5")
    kernel = "rnn/gru_cell/W_ir"

    def external_link(handle) -> None:
        handle["link_out"] = h5py.ExternalLink("../../outside.h5", "/data")
        handle["link_abs"] = h5py.ExternalLink("/etc/hostname", "/")

    add("h5_external_links_only", "h5/external_links.h5",
        write_h5(scratch / "links.h5", {}, external_link), 1,
        "only external links to files outside (never followed)")

    def virtual(handle) -> None:
        layout = h5py.VirtualLayout(shape=arrays[kernel].shape, dtype="f4")
        layout[:] = h5py.VirtualSource("../../outside.h5", "data", shape=arrays[kernel].shape)
        handle.create_virtual_dataset(kernel, layout, fillvalue=0)

    others = {k: v for k, v in arrays.items() if k != kernel}
    add("h5_virtual_dataset", "h5/virtual_dataset.h5",
        write_h5(scratch / "virtual.h5", others, virtual), 2,
        f"{kernel} is a virtual dataset mapping ../../outside.h5")

    def external_storage(handle) -> None:
        handle.create_dataset(kernel, shape=arrays[kernel].shape, dtype="f4",
                              external=[("../../outside.bin", 0, arrays[kernel].nbytes)])

    add("h5_external_storage", "h5/external_storage.h5",
        write_h5(scratch / "external.h5", others, external_storage), 2,
        f"{kernel} keeps its bytes in ../../outside.bin (external storage)")

    def soft_links(handle) -> None:
        handle["a"] = h5py.SoftLink("/b")
        handle["b"] = h5py.SoftLink("/a")
        for depth in range(200):
            handle[f"chain{depth}"] = h5py.SoftLink(f"/chain{depth + 1}")

    add("h5_soft_link_cycle", "h5/soft_links.h5", write_h5(scratch / "soft.h5", {}, soft_links),
        1, "cyclic soft links and a 200-deep soft-link chain, no datasets")

    def hard_cycle(handle) -> None:
        group = handle.create_group("loop/inner")
        group["back"] = handle["loop"]  # a hard link to its own ancestor

    add("h5_hard_link_cycle", "h5/hard_cycle.h5", write_h5(scratch / "cycle.h5", {}, hard_cycle),
        1, "a group hard-linked into its own child")
    add("h5_not_gru", "h5/not_gru.h5",
        write_h5(scratch / "not_gru.h5", {"conv/weights": arrays[kernel], "step": np.arange(3)}),
        1, "a valid HDF5 file of unrelated tensors")
    make_keras_cases(scratch, base)


def keras_base(base_h5: bytes) -> list[tuple[str, bytes]]:
    found = sorted((FIXTURES / "keras").glob("*.keras")) if (FIXTURES / "keras").is_dir() else []
    if found:
        with zipfile.ZipFile(found[0]) as archive:
            return [(info.filename, archive.read(info)) for info in archive.infolist()]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": []}}
    return [("metadata.json", json.dumps({"keras_version": "3.0.0"}).encode()),
            ("config.json", json.dumps(config).encode()), ("model.weights.h5", base_h5)]


def make_keras_cases(scratch: Path, base_h5: bytes) -> None:
    members = keras_base(base_h5)
    replace = lambda name, payload: [(n, payload if n == name else p) for n, p in members]  # noqa: E731
    add("keras_config_garbage", "keras/config_garbage.keras",
        zip_bytes(replace("config.json", b"{\"class_name\": \x00\xff garbage")), 2,
        "config.json is not JSON")
    add("keras_no_weights", "keras/no_weights.keras",
        zip_bytes([(n, p) for n, p in members if n != "model.weights.h5"]), 2,
        "no model.weights.h5 member")
    add("keras_weights_garbage", "keras/weights_garbage.keras",
        zip_bytes(replace("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)), 2,
        "model.weights.h5 is a damaged HDF5 image")
    archive = zip_bytes(members)
    for offset in (10, len(archive) // 2, len(archive) - 10):
        add(f"keras_truncated_{offset}", f"keras/truncated_{offset}.keras", archive[:offset], 2,
            f"a .keras archive cut to {offset} bytes")
    add("keras_path_escape", "keras/path_escape.keras",
        zip_bytes([("../../evil.h5", b"x"), *members]), 2, "a member named ../../evil.h5")
    add("keras_zip_bomb", "keras/zip_bomb.keras",
        zip_bytes(replace("model.weights.h5", bytes(48 * 2**20)), zipfile.ZIP_DEFLATED), 2,
        "model.weights.h5 inflates 48 MiB of zeros (about 1000x)")


# --- safetensors ------------------------------------------------------------------------

def make_safetensors_cases() -> None:
    base = (FIXTURES / "pytorch" / "gru_cell.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", base[:8])
    header = json.loads(base[8:8 + length])
    for offset in (4, 8, 50, 8 + length, len(base) - 1):
        add(f"safetensors_truncated_{offset}", f"safetensors/truncated_{offset}.safetensors",
            base[:offset], 2, f"the safetensors fixture cut to {offset} bytes")

    def with_header(changed: dict, declared: int | None = None) -> bytes:
        text = json.dumps(changed).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", declared if declared is not None else len(text)) + text + \
            base[8 + length:]

    add("safetensors_header_2e60", "safetensors/header_2e60.safetensors",
        struct.pack("<Q", 1 << 60) + base[8:], 2, "the header length claims 2^60 bytes")
    add("safetensors_header_past_end", "safetensors/header_past_end.safetensors",
        struct.pack("<Q", len(base)) + base[8:], 2, "the header length runs past the file")
    add("safetensors_header_garbage", "safetensors/header_garbage.safetensors",
        struct.pack("<Q", 16) + b"{\"a\": \xff\xfe garbag" + base[24:], 2,
        "the header is not JSON")
    name = next(k for k in header if k != "__metadata__")
    changed = json.loads(json.dumps(header))
    changed[name]["data_offsets"] = [0, 1 << 50]
    add("safetensors_offsets_beyond", "safetensors/offsets_beyond.safetensors",
        with_header(changed), 2, f"{name}'s data_offsets end at 2^50")
    changed = json.loads(json.dumps(header))
    changed[name]["shape"] = [1 << 40, 1 << 40]
    add("safetensors_shape_2e40", "safetensors/shape_2e40.safetensors", with_header(changed), 2,
        f"{name} declares shape [2^40, 2^40]")
    changed = json.loads(json.dumps(header))
    changed[name]["dtype"] = "F128"
    add("safetensors_unknown_dtype", "safetensors/unknown_dtype.safetensors",
        with_header(changed), 2, f"{name} has dtype F128")
    add("safetensors_empty", "safetensors/empty.safetensors", b"", 2, "an empty .safetensors")


# --- PyTorch ----------------------------------------------------------------------------

def make_pytorch_cases() -> None:
    base = (FIXTURES / "pytorch" / "gru_cell.pt").read_bytes()
    for offset in (4, 100, len(base) // 2, len(base) - 22, len(base) - 1):
        add(f"pt_truncated_{offset}", f"pytorch/truncated_{offset}.pt", base[:offset], 2,
            f"a torch.save zip cut to {offset} bytes")
    with zipfile.ZipFile(FIXTURES / "pytorch" / "gru_cell.pt") as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    pickle_name = next(n for n, _ in members if n.endswith("/data.pkl"))
    add("pt_pickle_runs_code", "pytorch/runs_code.pt",
        zip_bytes([(n, EVIL_PICKLE if n == pickle_name else p) for n, p in members]), 2,
        "data.pkl calls os.system", code_marker=True)
    add("pth_raw_pickle_runs_code", "pytorch/raw_pickle.pth", EVIL_PICKLE, 2,
        "a bare pickle named .pth that calls os.system", code_marker=True)
    legacy = (FIXTURES / "pytorch" / "gru_cell_legacy.pt").read_bytes()
    add("pt_legacy_pickle_runs_code", "pytorch/legacy_runs_code.pt",
        legacy[:14] + b"." + EVIL_PICKLE, 2,
        "the legacy magic followed by a pickle calling os.system", code_marker=True)
    add("pt_path_escape", "pytorch/path_escape.pt",
        zip_bytes([("../evil", b"x"), *members]), 2, "a member named ../evil")
    add("pt_zip_bomb", "pytorch/zip_bomb.pt",
        declare_sizes(zip_bytes([*members, *((f"gru_cell/data/{99 - k}", b"\x00" * 64)
                                             for k in range(20))], zipfile.ZIP_DEFLATED),
                      {f"gru_cell/data/{99 - k}": 2**32 - 2 for k in range(20)}), 2,
        "20 members whose directory entries declare 4 GiB each (80 GiB in all)")
    data_name = next(n for n, p in members if "/data/" in n and len(p) > 16)
    add("pt_storage_truncated", "pytorch/storage_truncated.pt",
        zip_bytes([(n, p[:8] if n == data_name else p) for n, p in members]), 2,
        f"storage {data_name} holds 8 bytes")
    add("pt_empty", "pytorch/empty.pt", b"", 2, "an empty .pt")


# --- ONNX and Flax ----------------------------------------------------------------------

def make_onnx_cases() -> None:
    base = (FIXTURES / "onnx" / "forward_lbr0.onnx").read_bytes()
    # Offsets inside the initializers' raw_data, so the protobuf is cut mid-field.
    for offset in (3, len(base) // 2, len(base) - 120):
        add(f"onnx_truncated_{offset}", f"onnx/truncated_{offset}.onnx", base[:offset], 2,
            f"an ONNX model cut to {offset} bytes")
    add("onnx_garbage", "onnx/garbage.onnx", b"\xff" * 64, 2, "64 bytes of 0xff named .onnx")
    add("onnx_empty", "onnx/empty.onnx", b"", 2, "an empty .onnx")
    try:
        import onnx
    except ImportError:
        return
    model = onnx.load_from_string(base)
    for initializer in model.graph.initializer:
        if initializer.name in {node.input[1] for node in model.graph.node if node.op_type == "GRU"}:
            initializer.ClearField("raw_data")
            initializer.ClearField("float_data")
            initializer.data_location = onnx.TensorProto.EXTERNAL
            entry = initializer.external_data.add()
            entry.key, entry.value = "location", "../../../../etc/passwd"
    add("onnx_external_escape", "onnx/external_escape.onnx", model.SerializeToString(), 2,
        "W's external data is ../../../../etc/passwd")
    model = onnx.load_from_string(base)
    w_name = next(node.input[1] for node in model.graph.node if node.op_type == "GRU")
    for initializer in model.graph.initializer:
        if initializer.name == w_name:
            initializer.ClearField("dims")
            initializer.dims.extend([1, 3 * (1 << 38), 1 << 38])
    add("onnx_huge_dims", "onnx/huge_dims.onnx", model.SerializeToString(), 2,
        "W declares dims [1, 3*2^38, 2^38] over a few bytes")


def make_flax_cases() -> None:
    base = (FIXTURES / "flax" / "rnn_gru.msgpack").read_bytes()
    for offset in (1, len(base) // 2, len(base) - 1):
        add(f"msgpack_truncated_{offset}", f"flax/truncated_{offset}.msgpack", base[:offset], 2,
            f"a Flax msgpack cut to {offset} bytes")


def main() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    CORPUS.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        make_tf_cases()
        make_npz_cases()
        make_h5_cases(Path(scratch))
        make_safetensors_cases()
        make_pytorch_cases()
        make_onnx_cases()
        make_flax_cases()
    (CORPUS / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"{len(manifest)} cases, {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
