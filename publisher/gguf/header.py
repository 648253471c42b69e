"""A fast, hostile-input-safe GGUF header reader: metadata and tensor table, never tensor data.

`gguf.GGUFReader` builds numpy objects for every array element (seconds and hundreds of MB on a
262,144-token vocabulary); this walks the header with buffered reads, skips array bodies (keeping
their offsets for lazy element access) and checks every length and count against the bytes left
in the file before reading or allocating anything.

Memory stays within twice the header's size (issue 21): the tensor table is kept as a few flat
arrays and one blob of names (`TensorTable`), never an object per tensor — 2 million tiny
tensors were ~10x their 82 MB as dataclasses — and `TensorInfo` objects are made on access.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, overload

from publisher.errors import CheckFailed
from publisher.files import open_regular
from publisher.gguf.ggml_constants import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    GGMLQuantizationType,
    GGUFValueType,
)

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_HEADER_BYTES = 256 * 1024 * 1024  # metadata + tensor table; real headers are a few MB
MAX_DIMS = 4  # GGML_MAX_DIMS
# Metadata stays a dict (keys and values as Python objects, ~150 bytes a pair whatever its size
# on disk), so the pair count is capped: real GGUFs carry a few dozen keys (arrays count as one).
MAX_KV = 65_536
_CHUNK = 1024 * 1024

# value type -> (struct format, byte size) for fixed-size scalars
_SCALARS: dict[GGUFValueType, tuple[str, int]] = {
    GGUFValueType.UINT8: ("<B", 1),
    GGUFValueType.INT8: ("<b", 1),
    GGUFValueType.UINT16: ("<H", 2),
    GGUFValueType.INT16: ("<h", 2),
    GGUFValueType.UINT32: ("<I", 4),
    GGUFValueType.INT32: ("<i", 4),
    GGUFValueType.FLOAT32: ("<f", 4),
    GGUFValueType.BOOL: ("<?", 1),
    GGUFValueType.UINT64: ("<Q", 8),
    GGUFValueType.INT64: ("<q", 8),
    GGUFValueType.FLOAT64: ("<d", 8),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
# the smallest encoding of one key/value pair: key length, type, one byte of value
_MIN_KV_BYTES = 8 + 4 + 1
# the smallest tensor info: name length, n_dims, type, offset
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8
_DIMS = [struct.Struct(f"<{n}QIQ") for n in range(MAX_DIMS + 1)]  # ne[0..n), type, offset


class GgufFormatError(CheckFailed):
    """A file that is not a well-formed GGUF header: names the file and the byte offset."""

    def __init__(self, path: Path | str, offset: int, message: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.reason = message
        super().__init__(f"{path}: byte {offset}: {message}")


@dataclass(frozen=True)
class GgufArray:
    """A metadata array whose body was skipped: read elements lazily from the file."""

    path: Path
    offset: int  # file offset of the first element
    count: int
    type: GGUFValueType  # element type
    end: int  # file offset just past the last element

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Any:
        """Element `index` (strings are found by walking the lengths before it)."""
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(f"{self.path}: array index {index} out of range 0..{self.count - 1}")
        with open_regular(self.path, "GGUF") as handle:
            if self.type == GGUFValueType.STRING:
                cursor = _Cursor(handle, self.path, self.end, start=self.offset)
                cursor.skip_strings(index, "array")
            else:
                size = _SCALARS[self.type][1]
                cursor = _Cursor(handle, self.path, self.end, start=self.offset + index * size)
            return cursor.value(self.type)

    def iter(self, stop: int | None = None) -> Iterator[Any]:
        """Yield the first `stop` elements (all when None) with bounded buffered reads."""
        stop = self.count if stop is None else min(stop, self.count)
        with open_regular(self.path, "GGUF") as handle:
            cursor = _Cursor(handle, self.path, self.end, start=self.offset)
            for _ in range(stop):
                yield cursor.value(self.type)


@dataclass(frozen=True)
class TensorInfo:
    """One row of the tensor table: ne order (fastest axis first), ggml type, data extent."""

    name: str
    shape: tuple[int, ...]  # ne[0..n_dims), as stored; the expert axis of MoE tensors is last
    type: GGMLQuantizationType
    offset: int  # relative to GgufHeader.data_start
    nbytes: int

    @property
    def n_elements(self) -> int:
        """Number of weights in the tensor."""
        total = 1
        for dim in self.shape:
            total *= dim
        return total


class TensorTable(Sequence[TensorInfo]):
    """The tensor table as flat arrays: names in one UTF-8 blob with end offsets, shapes in one
    array of dims, types and data offsets in their own arrays, and an open-addressing index of
    name hashes for duplicate checks and `get`. Per tensor: the name, 8 bytes a dim, 18 more and
    4 to 8 for the index — about what the record takes on disk (the name, 8 a dim and 24 more);
    a `TensorInfo` is built when one is read."""

    def __init__(self) -> None:
        self._names = bytearray()
        self._name_ends = array("I")  # the header cap (256 MiB) keeps every offset below 2**32
        self._dims = array("Q")
        self._dim_ends = array("I")
        self._types = array("H")
        self._offsets = array("Q")
        self._slots = array("I", bytes(4 * 8))  # 0 empty, else tensor index + 1
        self.data_end = 0  # the end of the furthest tensor's data, counted from data_start

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> TensorInfo: ...
    @overload
    def __getitem__(self, index: slice) -> list[TensorInfo]: ...
    def __getitem__(self, index: int | slice) -> TensorInfo | list[TensorInfo]:
        if isinstance(index, slice):
            return [self._info(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"tensor index {index} out of range")
        return self._info(index)

    def __iter__(self) -> Iterator[TensorInfo]:
        return (self._info(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TensorTable):
            return list(self) == list(other)
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"<TensorTable of {len(self)} tensors>"

    def _name_bytes(self, index: int) -> bytes:
        start = self._name_ends[index - 1] if index else 0
        return bytes(self._names[start : self._name_ends[index]])

    def _info(self, index: int) -> TensorInfo:
        start = self._dim_ends[index - 1] if index else 0
        shape = tuple(self._dims[start : self._dim_ends[index]])
        kind = GGMLQuantizationType(self._types[index])
        return TensorInfo(
            self._name_bytes(index).decode("utf-8", "surrogateescape"),
            shape,
            kind,
            self._offsets[index],
            _nbytes(shape, kind),
        )

    def get(self, name: str) -> TensorInfo | None:
        """The tensor called `name`, if present (a hash probe, no scan)."""
        raw = name.encode("utf-8", "surrogateescape")
        index = self._find(raw, hash(raw))
        return None if index is None else self._info(index)

    def _find(self, raw: bytes, key: int) -> int | None:
        slots, mask = self._slots, len(self._slots) - 1
        slot = key & mask
        while slots[slot]:
            if self._name_bytes(slots[slot] - 1) == raw:
                return slots[slot] - 1
            slot = (slot + 1) & mask
        return None

    def _place(self, index: int, key: int) -> None:
        slots, mask = self._slots, len(self._slots) - 1
        slot = key & mask
        while slots[slot]:
            slot = (slot + 1) & mask
        slots[slot] = index + 1

    def add(
        self, raw_name: bytes, shape: Sequence[int], kind: int, offset: int, nbytes: int
    ) -> bool:
        """Append one tensor; False (and nothing added) when its name is already in the table."""
        index = len(self._offsets)
        if 2 * (index + 1) > len(self._slots):  # keep the index at most half full
            self._slots = array("I", bytes(4 * 2 * len(self._slots)))
            for old in range(index):
                self._place(old, hash(self._name_bytes(old)))
        slots, mask = self._slots, len(self._slots) - 1
        slot = hash(raw_name) & mask
        while taken := slots[slot]:  # one probe finds a duplicate or the free slot
            if self._name_bytes(taken - 1) == raw_name:
                return False
            slot = (slot + 1) & mask
        slots[slot] = index + 1
        self._names += raw_name
        self._name_ends.append(len(self._names))
        self._dims.extend(shape)
        self._dim_ends.append(len(self._dims))
        self._types.append(kind)
        self._offsets.append(offset)
        self.data_end = max(self.data_end, offset + nbytes)
        return True


def _nbytes(shape: Sequence[int], kind: GGMLQuantizationType) -> int:
    block, block_bytes = GGML_QUANT_SIZES[kind]
    n_elements = 1
    for dim in shape:
        n_elements *= dim
    return n_elements // block * block_bytes


@dataclass
class GgufHeader:
    """Everything in a GGUF header: metadata, tensor table, data start and implied minimum size."""

    path: Path
    version: int
    file_size: int
    kv: dict[str, Any]  # scalars as Python values, strings as str, arrays as GgufArray
    kv_types: dict[str, GGUFValueType]
    tensors: TensorTable  # a Sequence[TensorInfo]; each item is built when read
    alignment: int
    header_size: int  # bytes up to the end of the tensor table
    data_start: int  # aligned start of tensor data
    min_file_size: int  # data_start + the end of the furthest tensor

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value, or `default` when the key is absent."""
        return self.kv.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.kv[key]

    def __contains__(self, key: str) -> bool:
        return key in self.kv

    @property
    def architecture(self) -> str | None:
        """`general.architecture` when it is a string."""
        value = self.kv.get("general.architecture")
        return value if isinstance(value, str) else None

    def tensor(self, name: str) -> TensorInfo | None:
        """The tensor called `name`, if present."""
        return self.tensors.get(name)

    @property
    def truncated(self) -> bool:
        """True when the file is shorter than its tensor table says."""
        return self.file_size < self.min_file_size

    def token(self, token_id: int) -> str | None:
        """The vocabulary string of `token_id`, read lazily; None when absent or out of range."""
        tokens = self.kv.get("tokenizer.ggml.tokens")
        if not isinstance(tokens, GgufArray) or tokens.type != GGUFValueType.STRING:
            return None
        if not 0 <= token_id < tokens.count:
            return None
        try:
            return tokens[token_id]
        except (GgufFormatError, OSError):
            return None


class _Cursor:
    """Buffered sequential reads that never go past `limit` and fail with a GgufFormatError."""

    def __init__(self, handle: BinaryIO, path: Path, limit: int, start: int = 0) -> None:
        self.handle = handle
        self.path = path
        self.limit = limit  # bytes of the file we may read (file size or an array's end)
        self.base = start  # file offset of buf[0]
        self.buf = b""
        self.pos = 0  # index into buf
        handle.seek(start)

    @property
    def offset(self) -> int:
        """The current file offset."""
        return self.base + self.pos

    def fail(self, message: str, offset: int | None = None) -> GgufFormatError:
        """An error at the current (or given) offset."""
        return GgufFormatError(self.path, self.offset if offset is None else offset, message)

    def left(self) -> int:
        """Bytes between the current offset and the readable end."""
        return self.limit - self.offset

    def ensure(self, n: int, what: str) -> None:
        """Make `n` bytes from the current position available in `buf`, or fail."""
        if self.pos + n <= len(self.buf):
            return
        if n > self.left():
            raise self.fail(f"{what} needs {n} bytes but only {self.left()} remain in the file")
        if self.offset + n > MAX_HEADER_BYTES:
            raise self.fail(
                f"{what} ends beyond {MAX_HEADER_BYTES // (1024 * 1024)} MiB; "
                "no GGUF header is that large"
            )
        rest = self.buf[self.pos :]
        unread = self.limit - (self.base + len(self.buf))
        want = min(max(n - len(rest), _CHUNK), unread)
        data = self.handle.read(want)
        if len(data) < n - len(rest):
            raise self.fail(f"{what}: the file ended early (it changed while being read?)")
        self.base += self.pos
        self.buf = rest + data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        """The next `n` raw bytes."""
        self.ensure(n, what)
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u32(self, what: str) -> int:
        """A little-endian u32."""
        self.ensure(4, what)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(value)

    def u64(self, what: str) -> int:
        """A little-endian u64."""
        self.ensure(8, what)
        (value,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(value)

    def raw_string(self, what: str) -> bytes:
        """A GGUF string's bytes: u64 length then bytes."""
        start = self.offset
        length = self.u64(f"{what} length")
        if length > self.left():
            raise self.fail(
                f"{what} claims {length} bytes but only {self.left()} remain in the file", start
            )
        return self.take(length, what)

    def string(self, what: str) -> str:
        """A GGUF string: u64 length then bytes (invalid UTF-8 kept via surrogateescape)."""
        start = self.offset
        length = self.u64(f"{what} length")
        if length > self.left():
            raise self.fail(
                f"{what} claims {length} bytes but only {self.left()} remain in the file", start
            )
        return self.take(length, what).decode("utf-8", "surrogateescape")

    def value(self, vtype: GGUFValueType) -> Any:
        """One scalar or string value."""
        if vtype == GGUFValueType.STRING:
            return self.string("string value")
        fmt, size = _SCALARS[vtype]
        self.ensure(size, f"{vtype.name} value")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def skip(self, n: int, what: str) -> None:
        """Advance `n` bytes without keeping them."""
        if n > self.left():
            raise self.fail(f"{what} needs {n} bytes but only {self.left()} remain in the file")
        if self.pos + n <= len(self.buf):
            self.pos += n
            return
        target = self.offset + n
        self.handle.seek(target)
        self.base, self.buf, self.pos = target, b"", 0

    def skip_strings(self, count: int, what: str) -> None:
        """Skip `count` strings, reading only their lengths (the hot loop of a vocabulary)."""
        unpack = _U64.unpack_from
        done = 0
        while done < count:
            self.ensure(8, f"{what} element {done} length")
            buf, pos, end = self.buf, self.pos, len(self.buf)
            last = end - 8  # a length field must start at or before this index
            start, done = done, count
            for index in range(start, count):
                if pos > last:
                    done = index
                    break
                pos += 8 + unpack(buf, pos)[0]
            if pos <= end:
                self.pos = pos
            else:  # the last string's bytes run past the buffer: seek over them
                self.pos = end
                self.skip(pos - end, f"{what} element {done - 1}")


def _value_type(raw: int, cursor: _Cursor, offset: int, what: str) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise cursor.fail(f"{what}: unknown value type {raw}", offset) from None


def _read_value(cursor: _Cursor, vtype: GGUFValueType, key: str) -> Any:
    """A value of `key`: scalars read, array bodies skipped and described."""
    if vtype != GGUFValueType.ARRAY:
        return cursor.value(vtype)
    at = cursor.offset
    etype = _value_type(cursor.u32(f"{key}: array type"), cursor, at, f"{key}: array")
    count_at = cursor.offset
    count = cursor.u64(f"{key}: array count")
    if etype == GGUFValueType.ARRAY:
        raise cursor.fail(f"{key}: nested arrays are not supported", at)
    min_size = 8 if etype == GGUFValueType.STRING else _SCALARS[etype][1]
    if count * min_size > cursor.left():
        raise cursor.fail(
            f"{key}: array of {count} {etype.name} needs at least {count * min_size} bytes "
            f"but only {cursor.left()} remain in the file",
            count_at,
        )
    start = cursor.offset
    if etype == GGUFValueType.STRING:
        cursor.skip_strings(count, f"{key}: array")
    else:
        cursor.skip(count * min_size, f"{key}: array")
    return GgufArray(cursor.path, start, count, etype, cursor.offset)


def _read_tensor_info(cursor: _Cursor, index: int, alignment: int, table: TensorTable) -> None:
    """Read one tensor info into `table`: checked field by field, no object kept per tensor."""
    at = cursor.offset
    # the common case reads straight from the buffer, without formatting a message per field;
    # near the buffer's end or the header cap, the checked reads below name what ran out
    room = min(len(cursor.buf), MAX_HEADER_BYTES - cursor.base)
    buf, pos = cursor.buf, cursor.pos
    length = _U64.unpack_from(buf, pos)[0] if pos + 8 <= room else room
    if pos + 8 + length <= room:
        raw = buf[pos + 8 : pos + 8 + length]
        cursor.pos = pos + 8 + length
    else:
        raw = cursor.raw_string(f"tensor {index} name")
    dims_at = cursor.offset
    if cursor.pos + 4 <= room:
        (n_dims,) = _U32.unpack_from(cursor.buf, cursor.pos)
        cursor.pos += 4
    else:
        n_dims = cursor.u32(f"tensor {_label(raw)} n_dims")
    if not 1 <= n_dims <= MAX_DIMS:
        raise cursor.fail(
            f"tensor {_label(raw)}: n_dims {n_dims} is outside 1..{MAX_DIMS}", dims_at
        )
    fields = _DIMS[n_dims]
    if cursor.pos + fields.size <= room:
        *shape, raw_type, offset = fields.unpack_from(cursor.buf, cursor.pos)
        cursor.pos += fields.size
    else:
        name = _label(raw)
        shape = [cursor.u64(f"tensor {name} ne") for _ in range(n_dims)]
        raw_type = cursor.u32(f"tensor {name} type")
        offset = cursor.u64(f"tensor {name} offset")
    type_at = dims_at + 4 + 8 * n_dims
    try:
        ggml_type = GGMLQuantizationType(raw_type)
    except ValueError:
        raise cursor.fail(f"tensor {_label(raw)}: unknown ggml type {raw_type}", type_at) from None
    block = GGML_QUANT_SIZES[ggml_type][0]
    if shape[0] % block:
        raise cursor.fail(
            f"tensor {_label(raw)}: ne[0]={shape[0]} is not a multiple of the "
            f"{ggml_type.name} block size {block}",
            dims_at,
        )
    if offset % alignment:
        raise cursor.fail(
            f"tensor {_label(raw)}: data offset {offset} is not aligned to {alignment}",
            type_at + 4,
        )
    if not table.add(raw, shape, raw_type, offset, _nbytes(shape, ggml_type)):
        raise cursor.fail(f"duplicate tensor name {_label(raw)}", at)


def _label(raw: bytes) -> str:
    """A tensor name as error messages quote it."""
    return repr(raw.decode("utf-8", "surrogateescape"))


def _alignment(cursor: _Cursor, kv: dict[str, Any]) -> int:
    value = kv.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value & (value - 1):
        raise cursor.fail(f"general.alignment must be a power of two, found {value!r}")
    return value


def read_header(path: str | Path) -> GgufHeader:
    """Read and validate the header of the GGUF at `path` (tensor data is never read).

    A FIFO, device or directory is refused (files.NotARegularFile, exit 2) without being read.
    """
    path = Path(path)
    try:
        with open_regular(path, "GGUF") as handle:
            size = handle.seek(0, 2)
            return _parse(_Cursor(handle, path, size), size)
    except OSError as exc:
        raise GgufFormatError(path, 0, f"cannot read: {exc.strerror or exc}") from None


def _parse(cursor: _Cursor, size: int) -> GgufHeader:
    path = cursor.path
    magic = cursor.take(4, "magic") if size >= 4 else b""
    if magic != MAGIC:
        raise cursor.fail(f"not a GGUF file: magic {magic!r}, expected {MAGIC!r}", 0)
    version = cursor.u32("version")
    if version not in SUPPORTED_VERSIONS:
        hint = " (a big-endian GGUF?)" if version & 0xFFFF == 0 else ""
        raise cursor.fail(f"unsupported GGUF version {version}{hint}; expected 2 or 3", 4)
    n_tensors = cursor.u64("tensor count")
    n_kv = cursor.u64("metadata count")
    if n_kv * _MIN_KV_BYTES > cursor.left():
        raise cursor.fail(f"metadata count {n_kv} cannot fit in the {cursor.left()} bytes left", 16)
    if n_kv > MAX_KV:
        raise cursor.fail(f"metadata count {n_kv} is more than the {MAX_KV:,} keys allowed", 16)
    if n_tensors * _MIN_TENSOR_INFO_BYTES > cursor.left():
        raise cursor.fail(
            f"tensor count {n_tensors} cannot fit in the {cursor.left()} bytes left", 8
        )
    kv: dict[str, Any] = {}
    kv_types: dict[str, GGUFValueType] = {}
    for index in range(n_kv):
        at = cursor.offset
        key = cursor.string(f"metadata key {index}")
        if key in kv:
            raise cursor.fail(f"duplicate metadata key {key!r}", at)
        type_at = cursor.offset
        vtype = _value_type(cursor.u32(f"{key}: type"), cursor, type_at, key)
        kv[key] = _read_value(cursor, vtype, key)
        kv_types[key] = vtype
    alignment = _alignment(cursor, kv)
    tensors = TensorTable()
    for index in range(n_tensors):
        _read_tensor_info(cursor, index, alignment, tensors)
    header_size = cursor.offset
    data_start = -(-header_size // alignment) * alignment
    data_end = tensors.data_end
    return GgufHeader(
        path=path,
        version=version,
        file_size=size,
        kv=kv,
        kv_types=kv_types,
        tensors=tensors,
        alignment=alignment,
        header_size=header_size,
        data_start=data_start,
        min_file_size=data_start + data_end,
    )
