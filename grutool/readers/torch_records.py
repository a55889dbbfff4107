"""Check a `torch.save` zip's storage records against what its pickle declares, without
unpickling.

With `mmap=True`, torch maps each storage as `nbytes` (taken from the pickle) from the start
of its record, without comparing with the record's real size: a damaged or hostile file
then yields tensors made of the bytes of the next records, or of no file at all (SIGBUS).
The pickle is only *scanned* here (`pickletools.genops`, a stack of placeholders) to find its
persistent ids `("storage", <type>, key, location, numel)`; nothing is ever executed.
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path
from typing import cast

from ..errors import CorruptFileError

MAX_PICKLE_BYTES = 256 * 2**20
STORAGE_ITEMSIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16,
    "UntypedStorage": 1, "Float8_e4m3fnStorage": 1, "Float8_e5m2Storage": 1,
    "UInt16Storage": 2, "UInt32Storage": 4, "UInt64Storage": 8,
}
_MARK = object()
_GLOBAL = "global:"


def declared_storages(pickle_bytes: bytes) -> list[tuple[str, str, int]]:
    """(key, storage type name, element count) of every storage the pickle refers to."""
    stack: list[object] = []
    memo: dict[int, object] = {}
    found = []
    for opcode, arg, _ in pickletools.genops(pickle_bytes):
        name = opcode.name
        if name == "MARK":
            stack.append(_MARK)
        elif name in ("GLOBAL", "INST"):
            stack.append(_GLOBAL + str(arg).replace(" ", "."))
        elif name == "STACK_GLOBAL":
            attribute, module = stack.pop(), stack.pop()
            stack.append(f"{_GLOBAL}{module}.{attribute}")
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[cast(int, arg)] = stack[-1]  # these opcodes' argument is the memo index
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo.get(cast(int, arg)))
        elif name == "TUPLE":
            start = len(stack) - 1 - stack[::-1].index(_MARK)
            items = tuple(stack[start + 1:])
            del stack[start:]
            stack.append(items)
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            count = int(name[-1])
            items = tuple(stack[-count:])
            del stack[-count:]
            stack.append(items)
        elif name == "BINPERSID":
            pid = stack.pop()
            if (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                    and isinstance(pid[1], str) and isinstance(pid[4], int)):
                found.append((str(pid[2]), pid[1].removeprefix(_GLOBAL).rsplit(".", 1)[-1],
                              pid[4]))
            stack.append(None)
        elif opcode.arg is not None and not opcode.stack_before and len(opcode.stack_after) == 1:
            stack.append(arg)  # a constant: string, int, float, bytes
        else:
            # Anything else only matters for its stack effect.
            if pickletools.markobject in opcode.stack_before:
                start = len(stack) - 1 - stack[::-1].index(_MARK)
                del stack[start:]
            else:
                del stack[len(stack) - len(opcode.stack_before):]
            stack.extend([None] * len(opcode.stack_after))
    return found


def check_storage_records(archive: zipfile.ZipFile, path: Path) -> None:
    """Raise CorruptFileError unless every storage's record holds the bytes declared for it."""
    members = {info.filename: info for info in archive.infolist()}
    pickle_name = next((n for n in members if n == "data.pkl" or n.endswith("/data.pkl")), None)
    if pickle_name is None:
        return
    info = members[pickle_name]
    if info.file_size > MAX_PICKLE_BYTES:
        raise CorruptFileError(f"{pickle_name} declares {info.file_size} bytes", path)
    prefix = pickle_name[: -len("data.pkl")]
    try:
        storages = declared_storages(archive.read(info))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{pickle_name} is not a readable pickle: {exc}", path) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CorruptFileError(f"cannot read {pickle_name}: {exc}", path) from exc
    for key, type_name, numel in storages:
        record = members.get(f"{prefix}data/{key}")
        if record is None:
            raise CorruptFileError(f"storage {key} has no record {prefix}data/{key}", path)
        itemsize = STORAGE_ITEMSIZE.get(type_name)
        if itemsize is not None and numel * itemsize > record.file_size:
            raise CorruptFileError(f"storage {key} declares {numel} x {itemsize} bytes but its "
                                   f"record holds {record.file_size}", path)
