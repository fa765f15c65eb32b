"""Fuzz tests: random bytes fed to the safetensors reader and to the vocab reader.

The promise (numpy_bert.weights, numpy_bert.tokenization.load_vocab): a file that is not
what it should be gives a ValueError with a message, never another exception and never a
read outside the file. Each test draws 2,000 inputs (derandomized under
``HYPOTHESIS_PROFILE=ci``): random bytes, and files built to be nearly valid (a real
header length, a JSON header of plausible entries, bytes flipped or cut from a valid file),
which reach the checks that random bytes never get past.

What a successful read must then satisfy is checked too: every tensor's bytes lie inside
the data buffer and they tile it exactly (so no tensor reads another's bytes or past the
end), and each array equals the bytes at its declared offsets.
"""

import json
import os
import struct
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from numpy_bert.tokenization import BertTokenizer, load_vocab  # noqa: E402
from numpy_bert.weights import SAFETENSORS_DTYPES, load_safetensors, save_safetensors  # noqa: E402

FUZZ = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as directory:
        yield directory


def written(directory, name, data):
    """Write ``data`` to ``directory/name``; its path."""
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------------------------------- safetensors


def valid_file():
    """A small valid safetensors file of several dtypes (the seed of the mutations)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "seed.safetensors")
        save_safetensors({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(3, dtype=np.int64),
                          "c": np.array([True, False]), "d": np.zeros((0, 4), np.float16)}, path,
                         metadata={"format": "pt"})
        with open(path, "rb") as f:
            return f.read()


VALID = valid_file()

# Cheap strategies: generating an example must cost well under the reader's own time, or
# 2,000 of them would not fit the 30 s each test may take in CI. Each built or mutated file
# is therefore decoded from one drawn byte string, a "program" (one hypothesis draw instead
# of dozens; shrinking the program still shrinks the file).
DTYPES = sorted(SAFETENSORS_DTYPES) + ["F8", "f32", "", 4]
NAMES = ["a", "b", "c", "", "__metadata__", "a/../b"]
ODD_SHAPES = [[0] * 65, [0, 2 ** 62, 2 ** 62], [2 ** 70], [-1], "2", None]
ODD_OFFSETS = ["0", [0.0, 4.0], [True, 4], [4, 0], [-1, 3], None]
ODD_ENTRIES = [1, "x", [], {"format": "pt"}, {"k": 1}, {"dtype": "F32", "shape": [1]}]


class Program:
    """Reads choices from drawn bytes: ``pick(n)`` in [0, n), 0 once the bytes run out."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def pick(self, n):
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value % n


def build_file(program, data):
    """8-byte length + a JSON header of plausible entries + ``data``; the length right or not."""
    p, entries = Program(program), {}
    for _ in range(p.pick(5)):
        name, kind = NAMES[p.pick(len(NAMES))], p.pick(10)
        if kind == 0:
            entries[name] = ODD_ENTRIES[p.pick(len(ODD_ENTRIES))]
            continue
        shape = ODD_SHAPES[p.pick(len(ODD_SHAPES))] if kind == 1 else [p.pick(5) for _ in range(p.pick(4))]
        if kind == 2:
            offsets = ODD_OFFSETS[p.pick(len(ODD_OFFSETS))]
        else:
            begin = p.pick(49)
            offsets = [begin, begin + p.pick(49)]
        entries[name] = {"dtype": DTYPES[p.pick(len(DTYPES))], "shape": shape, "data_offsets": offsets}
    text = json.dumps(entries).encode("utf-8") + b" " * p.pick(9)
    n = [len(text), len(text), len(text), len(text) + 1, len(text) - 1, 0, 2 ** 64 - 1, 10 ** 9][p.pick(8)]
    return struct.pack("<Q", max(n, 0)) + text + data


def mutate_file(program):
    """The valid file with bytes flipped, cut, inserted or truncated: 4 program bytes per change."""
    p, data = Program(program), bytearray(VALID)
    for _ in range(max(1, len(program) // 4)):
        kind, at = p.pick(4), (p.pick(256) * 256 + p.pick(256)) % max(len(data), 1)
        if kind == 0 and data:
            data[at] ^= 1 << p.pick(8)
        elif kind == 1:
            del data[at:at + 1 + p.pick(16)]
        elif kind == 2:
            data[at:at] = bytes([p.pick(256)]) * (1 + p.pick(8))
        else:
            del data[at:]
    return bytes(data)


def built_files():
    return st.builds(build_file, st.binary(max_size=40), st.binary(max_size=96))


def mutated_files():
    return st.binary(min_size=4, max_size=16).map(mutate_file)


safetensors_inputs = st.one_of(st.binary(max_size=256), built_files(), mutated_files())


def check_read(data, tensors):
    """A successful read: the tensors tile the buffer, and each equals the bytes at its offsets."""
    (n,) = struct.unpack("<Q", data[:8])
    entries = json.loads(data[8:8 + n].decode("utf-8"))
    entries.pop("__metadata__", None)
    buffer = data[8 + n:]
    assert set(entries) == set(tensors)
    covered = 0
    for name, info in entries.items():
        begin, end = info["data_offsets"]
        assert 0 <= begin <= end <= len(buffer)
        covered += end - begin
        stored = np.frombuffer(buffer[begin:end], dtype=SAFETENSORS_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":
            stored = (stored.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(tensors[name].reshape(-1), stored.astype(tensors[name].dtype))
        assert tensors[name].shape == tuple(info["shape"])
    assert covered == len(buffer)


@FUZZ
@given(data=safetensors_inputs)
def test_the_safetensors_reader_raises_only_value_errors_and_reads_only_inside_the_file(scratch, data):
    path = written(scratch, "fuzz.safetensors", data)
    try:
        tensors = load_safetensors(path)
    except ValueError as e:
        assert str(e).startswith(path), e   # the message names the file
        return
    check_read(data, tensors)


def test_the_fuzzed_inputs_reach_past_the_header_checks(scratch):
    """The strategies are worth their examples: mutated files that still load, built ones that
    fail on a tensor's entry (past the length and JSON checks)."""
    from hypothesis import find

    def outcome(data):
        path = written(scratch, "probe.safetensors", data)
        try:
            return "loads" if load_safetensors(path) and data != VALID else "empty"
        except ValueError as e:
            return "tensor" if ": tensor " in str(e) else "other"

    few = settings(max_examples=500, database=None)
    assert outcome(find(mutated_files(), lambda d: outcome(d) == "loads", settings=few)) == "loads"
    assert outcome(find(built_files(), lambda d: outcome(d) == "tensor", settings=few)) == "tensor"


# ---------------------------------------------------------------------------------------- vocab.txt

# lines as bytes: tokens, duplicates, blanks, whitespace, and bytes that are not UTF-8
LINES = [b"[PAD]", b"[UNK]", b"[CLS]", b"[SEP]", b"[MASK]", b"the", b"##a", b"\xc3\xa9t\xc3\xa9", b"", b" ",
         b"a b", b"x\r", b"\t", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xe2\x80\xa8"]


def build_vocab(program):
    """Lines of LINES picked by the program's bytes; its first byte picks the line ending."""
    p = Program(program)
    ending = [b"\n", b"\r\n", b"\n\n", b""][p.pick(4)]
    lines = [LINES[p.pick(len(LINES))] for _ in range(len(program) - 1)]
    return b"\n".join(lines) + ending if ending != b"\r\n" else b"\r\n".join(lines) + ending


vocab_inputs = st.one_of(st.binary(max_size=200), st.binary(max_size=16).map(build_vocab))


@FUZZ
@given(data=vocab_inputs)
def test_the_vocab_reader_raises_only_value_errors(scratch, data):
    path = written(scratch, "vocab.txt", data)
    try:
        vocab = load_vocab(path)
    except ValueError as e:
        assert str(e).startswith(path), e   # the message names the file
        return
    lines = data.decode("utf-8").split("\n")  # the reader splits on "\n" alone
    lines = lines[:-1] if lines[-1] == "" else lines
    assert vocab == {token: i for i, token in enumerate(lines)}
    assert all(token and not any(c.isspace() for c in token) for token in vocab)
    try:
        tokenizer = BertTokenizer(path)
    except ValueError as e:
        assert "special token" in str(e) and path in str(e), e
        return
    assert tokenizer.vocab_size == len(lines)
