"""The header reader agrees with GGUFReader, reads lazily and fast, and survives hostile input."""

from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest
from gguf import GGUFReader, GGUFValueType, GGUFWriter, ReaderField
from support.gguf_factory import EOS_TOKEN, write_gemma4_gguf

from publisher.errors import CheckFailed
from publisher.files import NotARegularFile
from publisher.gguf.header import GgufArray, GgufFormatError, read_header


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gemma4_gguf(
        tmp_path_factory.mktemp("h") / "m-Q4_K_M.gguf",
        extra_kv={"test.flag": True, "test.ratio": 0.5, "test.list": [1, 2, 3]},
    )


def _reader_value(field: ReaderField) -> object:
    return field.contents()


def test_differential_against_gguf_reader(good: Path) -> None:
    ours = read_header(good)
    ref = GGUFReader(good)
    assert list(ours.kv) == [k for k in ref.fields if not k.startswith("GGUF.")]
    for key, value in ours.kv.items():
        field = ref.fields[key]
        assert ours.kv_types[key] == field.types[0], key
        if isinstance(value, GgufArray):
            expected = _reader_value(field)
            assert value.count == len(expected) and value.type == field.types[-1], key
            assert list(value.iter()) == pytest.approx(expected), key
        else:
            assert value == pytest.approx(_reader_value(field)), key
    assert ours.data_start == ref.data_offset
    assert ours.alignment == ref.alignment
    assert [(t.name, t.shape, t.type, t.nbytes) for t in ours.tensors] == [
        (t.name, tuple(int(d) for d in t.shape), t.tensor_type, int(t.n_bytes)) for t in ref.tensors
    ]
    assert [ours.data_start + t.offset for t in ours.tensors] == [
        int(t.data_offset) for t in ref.tensors
    ]
    assert (
        ours.file_size
        >= ours.min_file_size
        == max(int(t.data_offset) + int(t.n_bytes) for t in ref.tensors)
    )


def test_custom_alignment_is_honoured(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "a.gguf", alignment=64)
    ours, ref = read_header(path), GGUFReader(path)
    assert ours.alignment == 64 and ours.data_start == ref.data_offset
    assert not ours.truncated


def test_lazy_token_lookup(good: Path) -> None:
    header = read_header(good)
    assert header.token(106) == EOS_TOKEN
    assert header.token(2) == "<bos>"
    assert header.token(299) == "<tok299>"
    assert header.token(300) is None and header.token(-1) is None
    assert header.get("tokenizer.ggml.tokens")[-1] == "<tok299>"


def test_truncated_file_is_detected_from_the_table(good: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) - 100_000])
    header = read_header(cut)
    assert header.truncated and header.min_file_size > header.file_size


def _header_only(tmp_path: Path, n_tokens: int) -> Path:
    path = tmp_path / f"vocab{n_tokens}.gguf"
    writer = GGUFWriter(path, "gemma4")
    writer.add_token_list([f"token-{i:06d}" for i in range(n_tokens)])
    writer.add_token_scores([0.0] * n_tokens)
    writer.add_token_types([1] * n_tokens)
    writer.add_eos_token_id(106)
    import numpy as np

    writer.add_tensor("output_norm.weight", np.zeros(256, dtype=np.float32))
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gemma_sized_vocabulary_reads_in_milliseconds(tmp_path: Path) -> None:
    path = _header_only(tmp_path, 262_144)
    read_header(path)  # warm the page cache
    start = time.perf_counter()
    header = read_header(path)
    elapsed = time.perf_counter() - start
    assert header.get("tokenizer.ggml.tokens").count == 262_144
    assert header.token(262_143) == "token-262143"
    assert elapsed < 0.5, f"{elapsed:.3f} s"  # ~0.05 s here; GGUFReader takes seconds


# ------------------------------------------------------------------------------------------
# hostile input


def _raw(tmp_path: Path, body: bytes, name: str = "bad.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


def _prefix(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _fails(path: Path, *words: str) -> GgufFormatError:
    with pytest.raises(GgufFormatError) as info:
        read_header(path)
    for word in words:
        assert word in str(info.value)
    assert str(path) in str(info.value) and "byte " in str(info.value)
    assert isinstance(info.value, CheckFailed)
    return info.value


def test_bad_magic(tmp_path: Path) -> None:
    _fails(_raw(tmp_path, b"GGML" + bytes(60)), "magic")


def test_empty_file(tmp_path: Path) -> None:
    _fails(_raw(tmp_path, b""), "magic")


def test_unsupported_version(tmp_path: Path) -> None:
    _fails(_raw(tmp_path, _prefix(0, 0, version=7)), "version 7")


def test_absurd_tensor_count_is_rejected_at_once(tmp_path: Path) -> None:
    start = time.perf_counter()
    error = _fails(_raw(tmp_path, _prefix(2**62, 0) + bytes(64)), "tensor count")
    assert error.offset == 8 and time.perf_counter() - start < 0.1


def test_absurd_kv_count_is_rejected_at_once(tmp_path: Path) -> None:
    _fails(_raw(tmp_path, _prefix(0, 2**63) + bytes(64)), "metadata count")


def test_string_past_end_of_file(tmp_path: Path) -> None:
    body = _prefix(0, 1) + struct.pack("<Q", 1 << 40) + b"general.x"
    error = _fails(_raw(tmp_path, body), "claims", "remain")
    assert error.offset == 24


def test_array_count_past_end_of_file(tmp_path: Path) -> None:
    key = b"tokenizer.ggml.tokens"
    body = _prefix(0, 1) + struct.pack("<Q", len(key)) + key
    body += struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.STRING, 2**60)
    _fails(_raw(tmp_path, body + bytes(100)), "array of", "STRING")


def test_unknown_value_type(tmp_path: Path) -> None:
    body = _prefix(0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<I", 99) + bytes(8)
    _fails(_raw(tmp_path, body), "unknown value type 99")


def test_duplicate_key(tmp_path: Path) -> None:
    kv = struct.pack("<Q", 1) + b"k" + struct.pack("<IB", GGUFValueType.UINT8, 1)
    _fails(_raw(tmp_path, _prefix(0, 2) + kv + kv), "duplicate metadata key")


def test_a_directory_is_refused_as_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(NotARegularFile, match="GGUF is a directory, not a regular file"):
        read_header(tmp_path)


def _mutations(data: bytes, header_size: int, rng: random.Random, count: int):
    for i in range(count):
        if i % 3 == 0:
            yield data[: rng.randrange(0, header_size + 64)]
        else:
            mutated = bytearray(data[: header_size + 64])
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(0, header_size)
                mutated[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
            yield bytes(mutated)


def test_fuzz_truncations_and_byte_flips_only_raise_the_readers_error(tmp_path: Path) -> None:
    source = write_gemma4_gguf(tmp_path / "src.gguf", vocab=120, layers=1)
    header = read_header(source)
    data = source.read_bytes()
    rng = random.Random(20260101)
    target = tmp_path / "fuzz.gguf"
    start = time.perf_counter()
    outcomes = {"ok": 0, "error": 0}
    for case in _mutations(data, header.header_size, rng, 3000):
        target.write_bytes(case)
        try:
            parsed = read_header(target)
        except GgufFormatError as exc:
            assert exc.path == target and exc.offset >= 0
            outcomes["error"] += 1
        else:
            assert parsed.data_start >= parsed.header_size
            outcomes["ok"] += 1
    elapsed = time.perf_counter() - start
    assert outcomes["error"] > 1000  # the mutations do hit the validation paths
    assert elapsed < 30, f"fuzzing took {elapsed:.1f} s"


# ------------------------------------------------------------------------------------------
# memory: within twice the header's size (issue 21 item 11)


def _tiny_tensors(path: Path, count: int) -> int:
    """A header of `count` one-weight F32 tensors (the data a sparse hole); returns its size."""
    kv = struct.pack("<Q", 20) + b"general.architecture" + struct.pack("<IQ", 8, 5) + b"tests"
    rows = bytearray(_prefix(count, 1) + kv)
    for index in range(count):
        rows += struct.pack("<Q", 9) + b"t%08d" % index + struct.pack("<IQIQ", 1, 1, 0, index * 32)
    path.write_bytes(rows)
    with path.open("r+b") as handle:
        handle.truncate(-(-len(rows) // 32) * 32 + count * 32)
    return len(rows)


_PEAK = """
import resource, sys
from publisher.gguf.header import read_header
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
header = read_header(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, len(header.tensors))
"""


@pytest.mark.slow
def test_a_table_of_many_tiny_tensors_costs_less_than_twice_its_size(tmp_path: Path) -> None:
    """250,000 tensors: a 10 MB table took ~100 MB as one dataclass per tensor (10x); the peak
    resident memory a fresh process gains while reading it must stay under twice its size."""
    import subprocess
    import sys

    path = tmp_path / "tiny.gguf"
    size = _tiny_tensors(path, 250_000)
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    grown, count = map(int, done.stdout.split())
    assert count == 250_000
    assert grown < 2 * size, f"grew {grown / 1e6:.1f} MB reading a {size / 1e6:.1f} MB header"

    header = read_header(path)
    assert header.header_size == size and len(header.tensors) == 250_000
    last = header.tensors[-1]
    assert (last.name, last.shape, last.type.name, last.nbytes) == ("t00249999", (1,), "F32", 4)
    assert last.offset == 249_999 * 32
    assert header.min_file_size == header.data_start + last.offset + 4 and not header.truncated
    assert header.tensor("t00123456") == header.tensors[123_456]
    assert header.tensor("t00123456x") is None
    assert [t.name for t in header.tensors[3:5]] == ["t00000003", "t00000004"]


def test_a_duplicate_tensor_name_is_found_among_many(tmp_path: Path) -> None:
    path = tmp_path / "dup.gguf"
    _tiny_tensors(path, 5_000)
    data = bytearray(path.read_bytes())
    first = data.index(b"t00004999")
    data[first : first + 9] = b"t00000017"  # the last tensor takes an earlier one's name
    path.write_bytes(data)
    error = _fails(path, "duplicate tensor name 't00000017'")
    assert error.offset == first - 8


def test_more_metadata_keys_than_the_cap_are_refused_at_once(tmp_path: Path) -> None:
    _fails(_raw(tmp_path, _prefix(0, 65_537) + bytes(65_537 * 13)), "65,536 keys")
