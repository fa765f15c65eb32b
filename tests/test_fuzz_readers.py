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

# cheap strategies (sampled values, few draws): generating an example must cost well under
# the reader's own time, or 2,000 of them would not fit the 30 s each test may take in CI
DTYPES = sorted(SAFETENSORS_DTYPES) + ["F8", "f32", "", 4]
ODD_SHAPES = [[0] * 65, [0, 2 ** 62, 2 ** 62], [2 ** 70], [-1], "2", None]
ODD_OFFSETS = ["0", [0.0, 4.0], [True, 4], [4, 0], [-1, 3], None]
ODD_ENTRIES = [1, "x", [], {"format": "pt"}, {"k": 1}, {"dtype": "F32", "shape": [1]}]


@st.composite
def built_files(draw):
    """8-byte length + a JSON header of plausible entries + data bytes; the length right or not."""
    entries = {}
    for name in draw(st.lists(st.sampled_from(["a", "b", "c", "", "__metadata__", "a/../b"]), max_size=4)):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            entries[name] = draw(st.sampled_from(ODD_ENTRIES))
            continue
        shape = draw(st.sampled_from(ODD_SHAPES)) if kind == 1 else draw(st.lists(st.integers(0, 4), max_size=3))
        if kind == 2:
            offsets = draw(st.sampled_from(ODD_OFFSETS))
        else:
            begin = draw(st.integers(0, 48))
            offsets = [begin, begin + draw(st.integers(0, 48))]
        entries[name] = {"dtype": draw(st.sampled_from(DTYPES)), "shape": shape, "data_offsets": offsets}
    text = json.dumps(entries).encode("utf-8") + b" " * draw(st.integers(0, 8))
    n = draw(st.sampled_from([len(text), len(text) + 1, len(text) - 1, 0, 2 ** 64 - 1, 10 ** 9]))
    return struct.pack("<Q", max(n, 0)) + text + draw(st.binary(max_size=96))


@st.composite
def mutated_files(draw):
    """The valid file with bytes changed, cut, or inserted."""
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at:]
    return bytes(data)


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
    path = os.path.join(scratch, "fuzz.safetensors")
    with open(path, "wb") as f:
        f.write(data)
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
        path = os.path.join(scratch, "probe.safetensors")
        with open(path, "wb") as f:
            f.write(data)
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
vocab_inputs = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.lists(st.sampled_from(LINES), max_size=12), st.sampled_from([b"\n", b"\r\n", b"\n\n"]),
              st.booleans()).map(lambda t: t[1].join(t[0]) + (t[1] if t[2] else b"")))


@FUZZ
@given(data=vocab_inputs)
def test_the_vocab_reader_raises_only_value_errors(scratch, data):
    path = os.path.join(scratch, "vocab.txt")
    with open(path, "wb") as f:
        f.write(data)
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
