"""Tests of numpy_bert.weights: safetensors/npz I/O and HF parameter names.

Files written by the reference libraries live in tests/fixtures/weights/ (written by
tests/reference/make_weights_fixtures.py): every dtype saved by safetensors.torch, a
tiny BertForPreTraining saved by transformers, and HF's named_parameters() lists.
"""

import json
import mmap
import struct
import types
import warnings

import numpy as np
import pytest

import numpy_bert.weights
from numpy_bert.config import BertConfig
from numpy_bert.weights import (ARCHITECTURES, MAX_HEADER_BYTES, bf16_to_float32, check_finite, check_state_dict,
                                expected_shapes, float32_to_bf16, is_head, load_npz, load_pretrained,
                                load_safetensors, load_state_dict, parameter_layout, read_checkpoint,
                                read_safetensors_header, save_npz, save_safetensors, save_state_dict)
from tests.conftest import FIXTURES

WEIGHTS = FIXTURES / "weights"
HF_TINY = WEIGHTS / "hf_tiny"


@pytest.fixture(scope="module")
def tiny_config():
    return BertConfig.from_pretrained(HF_TINY)


@pytest.fixture(scope="module")
def tiny_params():
    """HF's named_parameters() of the hf_tiny model, as torch saw them."""
    return load_npz(WEIGHTS / "hf_tiny_params.npz")


def assert_same_values(actual, expected, name=""):
    """Equal values, NaN where NaN, and the same sign on zeros."""
    assert actual.shape == expected.shape, name
    np.testing.assert_array_equal(actual, expected, err_msg=name)
    if expected.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected), err_msg=name)


# ---------------------------------------------------------------- reading reference files

def test_reads_every_dtype_written_by_safetensors():
    tensors = load_safetensors(WEIGHTS / "all_dtypes.safetensors")
    expected = load_npz(WEIGHTS / "all_dtypes_expected.npz")
    assert set(tensors) == set(expected)
    for name, want in expected.items():
        got = tensors[name]
        # F16 and BF16 come back widened to float32; every other dtype as stored.
        want_dtype = np.float32 if name in ("f16", "bf16") else want.dtype
        assert got.dtype == want_dtype, name
        assert_same_values(got, want.astype(want_dtype), name)
    assert tensors["scalar"].shape == ()
    assert tensors["empty"].shape == (0, 4)


def test_header_and_metadata_without_reading_data():
    header, metadata = read_safetensors_header(WEIGHTS / "all_dtypes.safetensors")
    assert metadata["format"] == "pt"
    assert header["bf16"] == ("BF16", (3, 9))
    assert header["embeddings.position_ids"] == ("I64", (1, 12))


def test_arrays_are_read_only_by_default_and_copy_on_write_on_request(tmp_path):
    path = tmp_path / "x.safetensors"
    save_safetensors({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, path)
    before = path.read_bytes()
    w = load_safetensors(path)["w"]
    assert not w.flags.writeable
    with pytest.raises(ValueError):
        w[0, 0] = 5.0
    w = load_safetensors(path, writable=True)["w"]
    w[0, 0] = 5.0                              # changes the array in memory ...
    assert w[0, 0] == 5.0
    assert path.read_bytes() == before         # ... never the file
    assert load_safetensors(path)["w"][0, 0] == 0.0


def test_dtype_conversion_on_request():
    tensors = load_safetensors(WEIGHTS / "all_dtypes.safetensors", dtype=np.float64)
    assert tensors["f32"].dtype == np.float64
    assert tensors["bf16"].dtype == np.float64
    assert tensors["i64"].dtype == np.int64    # integer tensors are left alone
    expected = load_npz(WEIGHTS / "all_dtypes_expected.npz")
    assert_same_values(tensors["f16"], expected["f16"].astype(np.float64))


# ---------------------------------------------------------------- writing

def test_writer_is_byte_identical_to_safetensors_own(tmp_path):
    # Re-write the values of the reference file with numpy_bert: the same bytes.
    expected = load_npz(WEIGHTS / "all_dtypes_expected.npz")
    _, metadata = read_safetensors_header(WEIGHTS / "all_dtypes.safetensors")
    path = tmp_path / "again.safetensors"
    save_safetensors(expected, path, metadata=metadata, bf16=["bf16"])
    assert path.read_bytes() == (WEIGHTS / "all_dtypes.safetensors").read_bytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.int32,
                                   np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64,
                                   np.bool_])
def test_round_trip_every_dtype(tmp_path, dtype):
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        value = (rng.standard_normal((5, 3, 2)) * 50).astype(dtype)
    elif dtype is np.bool_:
        value = rng.random((5, 3, 2)) < 0.5
    else:
        info = np.iinfo(dtype)
        value = rng.integers(info.min, info.max, size=(5, 3, 2), dtype=dtype, endpoint=True)
    tensors = {"value": value, "scalar": value.reshape(-1)[:1].reshape(()),
               "empty": value[:0], "transposed": value.T}
    path = tmp_path / "t.safetensors"
    save_safetensors(tensors, path)
    back = load_safetensors(path)
    for name, want in tensors.items():
        got = back[name]
        assert got.dtype == (np.float32 if dtype is np.float16 else dtype), name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=name)


def test_bf16_round_trip(tmp_path):
    x = np.array([1.0, -3.5, 1e-3, 65504.0, np.inf, -np.inf, np.nan, -0.0], dtype=np.float32)
    path = tmp_path / "b.safetensors"
    save_safetensors({"x": x}, path, bf16=["x"])
    assert read_safetensors_header(path)[0]["x"] == ("BF16", (8,))
    got = load_safetensors(path)["x"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, bf16_to_float32(float32_to_bf16(x)))
    # 1.0, -3.5, 65504 -> 65536 (8 mantissa bits), inf, nan survive
    assert got[0] == 1.0 and got[1] == -3.5 and got[3] == 65536.0
    assert np.isinf(got[4]) and np.isnan(got[6]) and np.signbit(got[7])


def test_big_endian_input_is_stored_little_endian(tmp_path):
    x = (np.arange(5) * 1.5).astype(">f4")  # arithmetic would give a native array: cast last
    assert x.dtype.byteorder == ">"
    save_safetensors({"x": x}, tmp_path / "x.safetensors")
    got = load_safetensors(tmp_path / "x.safetensors")["x"]
    np.testing.assert_array_equal(got, x)
    raw = (tmp_path / "x.safetensors").read_bytes()
    assert raw.endswith((np.arange(5) * 1.5).astype("<f4").tobytes())


def test_header_is_padded_to_8_bytes(tmp_path):
    for n in range(1, 9):
        path = tmp_path / f"{n}.safetensors"
        save_safetensors({"x" * n: np.zeros(1, np.float32)}, path)
        (length,) = struct.unpack("<Q", path.read_bytes()[:8])
        assert length % 8 == 0
        assert load_safetensors(path)["x" * n].tolist() == [0.0]


# ---------------------------------------------------------------- BF16 / F16 exactness

def test_bf16_to_float32_is_exact_for_all_65536_patterns():
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    with np.errstate(invalid="ignore"):  # signalling NaNs warn when widened
        got = bf16_to_float32(bits).astype(np.float64)
    # Independent decoding: sign, 8-bit exponent, 7-bit mantissa.
    sign = np.where(bits >> 15, -1.0, 1.0)
    exponent = ((bits >> 7) & 0xFF).astype(np.int64)
    mantissa = (bits & 0x7F).astype(np.float64)
    normal = sign * np.ldexp(1.0 + mantissa / 128.0, exponent - 127)
    subnormal = sign * np.ldexp(mantissa / 128.0, -126)
    want = np.where(exponent == 0, subnormal, normal)
    finite = exponent != 0xFF
    np.testing.assert_array_equal(got[finite], want[finite])
    assert np.all(np.isinf(got[(exponent == 0xFF) & (mantissa == 0)]))
    assert np.all(np.isnan(got[(exponent == 0xFF) & (mantissa != 0)]))
    # and back: every non-NaN pattern survives float32 -> bf16 unchanged
    back = float32_to_bf16(bf16_to_float32(bits))
    keep = ~np.isnan(got)
    np.testing.assert_array_equal(back[keep], bits[keep])


def test_float32_to_bf16_rounds_to_nearest_even():
    ulp = 2.0 ** -7                     # bf16 spacing just above 1.0
    x = np.array([1 + ulp / 2,          # tie -> even (1.0)
                  1 + 3 * ulp / 2,      # tie -> even (1 + 2 ulp)
                  1 + ulp / 2 + 2 ** -20,  # just above the tie -> up
                  -(1 + ulp / 2 + 2 ** -20)], dtype=np.float32)
    got = bf16_to_float32(float32_to_bf16(x))
    np.testing.assert_array_equal(got, [1.0, 1 + 2 * ulp, 1 + ulp, -(1 + ulp)])


def test_f16_is_exact_for_all_65536_patterns(tmp_path):
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    save_safetensors({"x": x}, tmp_path / "h.safetensors")
    got = load_safetensors(tmp_path / "h.safetensors")["x"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float32))  # NaNs compare equal here
    np.testing.assert_array_equal(got.astype(np.float16).view(np.uint16)[~np.isnan(x)],
                                  x.view(np.uint16)[~np.isnan(x)])


# ---------------------------------------------------------------- corrupt files

def safetensors_bytes(header, buffer=b"", length=None):
    """The bytes of a safetensors file with a hand-made header (dict or raw bytes) and buffer;
    ``length`` overrides the header length the file claims."""
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(body) if length is None else length) + body + buffer


def write_raw(path, header, buffer=b"", length=None):
    """A safetensors file with a hand-made header (dict or raw bytes) and buffer."""
    path.write_bytes(safetensors_bytes(header, buffer, length))
    return path


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}


def test_hand_made_file_is_readable(tmp_path):
    path = write_raw(tmp_path / "ok.safetensors", GOOD, np.arange(3, dtype="<f4").tobytes())
    got = load_safetensors(path)
    assert got["a"].tolist() == [0.0, 1.0] and got["b"].tolist() == [2.0]


def corrupt(tmp_path, header, buffer=b"\0" * 12, length=None):
    path = write_raw(tmp_path / "bad.safetensors", header, buffer, length)
    with pytest.raises(ValueError) as info:
        load_safetensors(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_truncated_file(tmp_path):
    good = write_raw(tmp_path / "ok.safetensors", GOOD, b"\0" * 12).read_bytes()
    for cut in (len(good) - 1, len(good) - 4, 20, 9):
        (tmp_path / "cut.safetensors").write_bytes(good[:cut])
        with pytest.raises(ValueError, match="truncated|past the end"):
            load_safetensors(tmp_path / "cut.safetensors")
    for cut in (0, 3, 7):
        (tmp_path / "cut.safetensors").write_bytes(good[:cut])
        with pytest.raises(ValueError, match="too short"):
            load_safetensors(tmp_path / "cut.safetensors")


def test_header_length_larger_than_file(tmp_path):
    assert "header claims" in corrupt(tmp_path, GOOD, length=10_000)


def test_absurd_header_length(tmp_path):
    assert "limit" in corrupt(tmp_path, GOOD, length=2 ** 63 + 5)


def test_header_not_json(tmp_path):
    assert "not valid JSON" in corrupt(tmp_path, b"{'a': not json}")
    assert "not UTF-8" in corrupt(tmp_path, b"\xff\xfe{}")
    assert "JSON object" in corrupt(tmp_path, b"[1, 2, 3]")


def test_unknown_dtype_names_the_tensor(tmp_path):
    header = {**GOOD, "b": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [8, 12]}}
    message = corrupt(tmp_path, header)
    assert "'b'" in message and "F8_E4M3" in message


def test_offsets_past_the_end(tmp_path):
    header = {**GOOD, "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]}}
    message = corrupt(tmp_path, header)
    assert "'b'" in message and "past the end" in message


def test_overlapping_offsets(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    message = corrupt(tmp_path, header)
    assert "overlaps" in message and "'a'" in message and "'b'" in message


def test_gap_and_extra_bytes(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
              "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
    assert "belong to no tensor" in corrupt(tmp_path, header)
    assert "cover 12 bytes" in corrupt(tmp_path, GOOD, buffer=b"\0" * 16)


def test_size_not_matching_shape(tmp_path):
    header = {**GOOD, "a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}
    message = corrupt(tmp_path, header)
    assert "'a'" in message and "needs 16" in message


@pytest.mark.parametrize("entry", [
    {"dtype": "F32", "shape": [-1], "data_offsets": [8, 12]},
    {"dtype": "F32", "shape": "1", "data_offsets": [8, 12]},
    {"dtype": "F32", "shape": [1.0], "data_offsets": [8, 12]},
    {"dtype": "F32", "shape": [1], "data_offsets": [12, 8]},
    {"dtype": "F32", "shape": [1], "data_offsets": [8]},
    {"dtype": "F32", "shape": [1], "data_offsets": [-4, 12]},
    {"dtype": "F32", "shape": [1]},
    [1, 2, 3],
])
def test_malformed_entries_name_the_tensor(tmp_path, entry):
    assert "'b'" in corrupt(tmp_path, {**GOOD, "b": entry})


def test_malformed_metadata(tmp_path):
    assert "__metadata__" in corrupt(tmp_path, {**GOOD, "__metadata__": {"format": 1}})


def test_writer_rejects_bad_input(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="object"):
        save_safetensors({"a": np.array([None, 1])}, path)
    with pytest.raises(TypeError, match="'a'"):
        save_safetensors({"a": [1.0, 2.0]}, path)
    with pytest.raises(TypeError, match="complex128"):
        save_safetensors({"a": np.zeros(2, np.complex128)}, path)
    with pytest.raises(TypeError, match="metadata"):
        save_safetensors({"a": np.zeros(2)}, path, metadata={"format": 1})
    with pytest.raises(ValueError, match="reserved"):
        save_safetensors({"__metadata__": np.zeros(2)}, path)
    assert not path.exists()


# ---------------------------------------------------------------- npz

def test_npz_round_trip_and_no_pickle(tmp_path):
    tensors = {"bert.a.weight": np.arange(6.0).reshape(2, 3), "ids": np.arange(4)}
    save_npz(tensors, tmp_path / "p.npz")
    back = load_npz(tmp_path / "p.npz")
    assert list(back) == list(tensors)
    for name in tensors:
        np.testing.assert_array_equal(back[name], tensors[name])
        assert back[name].dtype == tensors[name].dtype
    assert load_npz(tmp_path / "p.npz", dtype=np.float32)["bert.a.weight"].dtype == np.float32
    with pytest.raises(TypeError, match="pickle"):
        save_npz({"a": np.array([{}], dtype=object)}, tmp_path / "o.npz")
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))  # pickles
    with pytest.raises(ValueError, match="pickle"):
        load_npz(tmp_path / "pickled.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="junk.npz"):
        load_npz(tmp_path / "junk.npz")


# ---------------------------------------------------------------- HF names and shapes

@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_expected_shapes_match_hf_named_parameters(tiny_config, architecture):
    hf = json.loads((WEIGHTS / "hf_names.json").read_text())[architecture]
    # the fixture's names were listed with num_labels=3 (the config's default is 2), QA's with 2
    num_labels = 2 if architecture == "BertForQuestionAnswering" else 3
    ours = expected_shapes(tiny_config.replace(num_labels=num_labels), architecture)
    assert [[name, list(shape)] for name, shape in ours.items()] == hf


def test_expected_shapes_bert_base_count():
    shapes = expected_shapes(BertConfig(vocab_size=28996))  # bert-base-cased
    assert len(shapes) == 5 + 12 * 16 + 2 + 7
    # 108,310,272 in BertModel (the figure usually quoted) + 622,662 in the heads
    assert sum(int(np.prod(s)) for s in shapes.values()) == 108_932_934
    with pytest.raises(ValueError, match="architecture"):
        expected_shapes(BertConfig(), "BertLMHeadModel")


def test_loads_transformers_checkpoint(tiny_config, tiny_params):
    params = load_state_dict(HF_TINY, tiny_config)
    assert list(params) == list(expected_shapes(tiny_config))
    for name, want in tiny_params.items():
        assert params[name].dtype == np.float32
        np.testing.assert_array_equal(params[name], want, err_msg=name)


def test_loads_pretraining_checkpoint_into_bert_model(tiny_config, tiny_params):
    params = load_state_dict(HF_TINY / "model.safetensors", tiny_config, "BertModel",
                             dtype=np.float64)
    assert list(params) == list(expected_shapes(tiny_config, "BertModel"))
    for name, value in params.items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, tiny_params["bert." + name], err_msg=name)


def test_loaded_params_are_writable_and_leave_the_file_alone(tiny_config):
    before = (HF_TINY / "model.safetensors").read_bytes()
    params = load_state_dict(HF_TINY, tiny_config)
    params["bert.pooler.dense.bias"] -= 1.0
    assert (HF_TINY / "model.safetensors").read_bytes() == before


def variants(tiny_params):
    """The same weights under the names found in real-world checkpoints."""
    word = tiny_params["bert.embeddings.word_embeddings.weight"]
    no_prefix = {k.removeprefix("bert."): v for k, v in tiny_params.items()}
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                          "LayerNorm.beta"): v
              for k, v in tiny_params.items()}
    with_decoder = {**tiny_params, "cls.predictions.decoder.weight": word.copy(),
                    "cls.predictions.decoder.bias": tiny_params["cls.predictions.bias"].copy(),
                    "bert.embeddings.position_ids": np.arange(40)[None]}
    only_decoder = {k: v for k, v in tiny_params.items()
                    if k not in ("bert.embeddings.word_embeddings.weight", "cls.predictions.bias")}
    only_decoder["cls.predictions.decoder.weight"] = word
    only_decoder["cls.predictions.decoder.bias"] = tiny_params["cls.predictions.bias"]
    return {"no_prefix": no_prefix, "legacy": legacy, "with_decoder": with_decoder,
            "only_decoder": only_decoder}


@pytest.mark.parametrize("variant", ["no_prefix", "legacy", "with_decoder", "only_decoder"])
@pytest.mark.parametrize("architecture", ["BertForPreTraining", "BertModel"])
def test_real_world_name_variants(tmp_path, tiny_config, tiny_params, variant, architecture):
    tensors = variants(tiny_params)[variant]
    save_safetensors(tensors, tmp_path / "model.safetensors")
    for source in (tensors, tmp_path):
        params = load_state_dict(source, tiny_config, architecture)
        assert list(params) == list(expected_shapes(tiny_config, architecture))
        for name, value in params.items():
            full = name if architecture == "BertForPreTraining" else "bert." + name
            np.testing.assert_array_equal(value, tiny_params[full], err_msg=name)


def test_untied_decoder_is_refused(tiny_config, tiny_params):
    tensors = {**tiny_params, "cls.predictions.decoder.weight":
               tiny_params["bert.embeddings.word_embeddings.weight"] + 1}
    with pytest.raises(ValueError, match="cls.predictions.decoder.weight differs"):
        load_state_dict(tensors, tiny_config)
    tensors = {**tiny_params, "cls.predictions.decoder.bias": tiny_params["cls.predictions.bias"] * 2}
    with pytest.raises(ValueError, match="cls.predictions.decoder.bias differs"):
        load_state_dict(tensors, tiny_config)


def test_same_tensor_under_two_names_is_ambiguous(tiny_config, tiny_params):
    tensors = {**tiny_params, "pooler.dense.bias": tiny_params["bert.pooler.dense.bias"]}
    with pytest.raises(ValueError, match="pooler.dense.bias.*twice"):
        load_state_dict(tensors, tiny_config)


def test_missing_and_unexpected_tensors_are_listed(tiny_config, tiny_params):
    tensors = dict(tiny_params)
    del tensors["bert.encoder.layer.1.output.dense.weight"]
    tensors["bert.encoder.layer.2.output.dense.weight"] = np.zeros((48, 37), np.float32)
    with pytest.raises(ValueError) as info:
        load_state_dict(tensors, tiny_config)
    message = str(info.value)
    assert "missing 1 tensor(s): bert.encoder.layer.1.output.dense.weight" in message
    assert "unexpected 1 tensor(s): bert.encoder.layer.2.output.dense.weight" in message


def test_encoder_only_checkpoint_into_pretraining_says_what_to_do(tiny_config, tiny_params):
    tensors = {k: v for k, v in tiny_params.items() if k.startswith("bert.")}
    with pytest.raises(ValueError, match="missing 7 tensor.*architecture='BertModel'"):
        load_state_dict(tensors, tiny_config)


def test_checkpoint_disagreeing_with_config_names_the_tensor(tiny_config):
    config = BertConfig.from_dict({**tiny_config.to_dict(), "vocab_size": 100})
    with pytest.raises(ValueError) as info:
        load_state_dict(HF_TINY, config)
    message = str(info.value)
    assert "bert.embeddings.word_embeddings.weight has shape (99, 48)" in message
    assert "expects (100, 48) (vocab_size=100, hidden_size=48)" in message
    assert "cls.predictions.bias has shape (99,)" in message
    assert str(HF_TINY) in message
    # vocab_size equal to max_position_embeddings (40): each dimension still gets its field
    config = BertConfig.from_dict({**tiny_config.to_dict(), "vocab_size": 40})
    with pytest.raises(ValueError, match=r"expects \(40, 48\) \(vocab_size=40, hidden_size=48\)"):
        load_state_dict(HF_TINY, config)


def test_non_float_parameter_and_bad_dtype(tiny_config, tiny_params):
    tensors = {**tiny_params, "cls.seq_relationship.bias": np.array([1, 2])}
    with pytest.raises(ValueError, match="cls.seq_relationship.bias.*int64"):
        load_state_dict(tensors, tiny_config)
    with pytest.raises(TypeError, match="floating"):
        load_state_dict(tiny_params, tiny_config, dtype=np.int32)


def test_missing_files(tmp_path, tiny_config):
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_state_dict(tmp_path, tiny_config)
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "nothing.safetensors", tiny_config)
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match="pickle"):
        load_state_dict(tmp_path, tiny_config)


# ---------------------------------------------------------------- save_state_dict

def test_save_state_dict_round_trip_bit_exact(tmp_path, tiny_config, tiny_params):
    params = load_state_dict(HF_TINY, tiny_config, dtype=np.float64)
    save_state_dict(params, tmp_path)                       # a directory
    header, metadata = read_safetensors_header(tmp_path / "model.safetensors")
    assert metadata == {"format": "pt"}                      # transformers requires it
    assert set(header) == set(params)                        # no decoder weight repeated
    back = load_state_dict(tmp_path, tiny_config, dtype=np.float64)
    for name in params:
        assert back[name].dtype == np.float64
        np.testing.assert_array_equal(back[name], params[name], err_msg=name)
    save_state_dict(params, tmp_path / "p.npz")
    back = load_state_dict(tmp_path / "p.npz", tiny_config, dtype=np.float64)
    for name in params:
        np.testing.assert_array_equal(back[name], params[name], err_msg=name)


# ---------------------------------------------------------------- the real checkpoint

def test_real_minilm_checkpoint(minilm_path):
    config = BertConfig.from_pretrained(minilm_path)
    raw = load_safetensors(minilm_path / "model.safetensors")
    assert len(raw) == 104
    assert raw["embeddings.position_ids"].dtype == np.int64
    np.testing.assert_array_equal(raw["embeddings.position_ids"], np.arange(512)[None])
    params = load_state_dict(minilm_path, config, architecture="BertModel")
    shapes = expected_shapes(config, "BertModel")
    assert list(params) == list(shapes)
    assert len(params) == 103
    for name, shape in shapes.items():
        assert params[name].shape == shape and params[name].dtype == np.float32, name
        np.testing.assert_array_equal(params[name], raw[name], err_msg=name)
    assert params["embeddings.word_embeddings.weight"].shape == (30522, 384)
    # LayerNorm weights of a trained model are not all ones, biases not all zeros
    assert not np.all(params["encoder.layer.5.output.LayerNorm.weight"] == 1)
    with pytest.raises(ValueError, match="architecture='BertModel'"):
        load_state_dict(minilm_path, config, architecture="BertForPreTraining")


def test_file_of_empty_tensors_only(tmp_path):
    save_safetensors({"e": np.zeros((0, 4), np.float32)}, tmp_path / "e.safetensors")
    assert load_safetensors(tmp_path / "e.safetensors")["e"].shape == (0, 4)
    save_safetensors({}, tmp_path / "none.safetensors")
    assert load_safetensors(tmp_path / "none.safetensors") == {}


def test_duplicate_names_in_header(tmp_path):
    header = (b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
              b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
    assert "'a' twice" in corrupt(tmp_path, header, buffer=b"\0" * 8)


def test_random_corruption_gives_value_error_or_valid_arrays(tmp_path):
    """Flip bytes anywhere in a real file: every outcome is a ValueError or a consistent load."""
    good = (HF_TINY / "model.safetensors").read_bytes()
    header_end = 8 + struct.unpack("<Q", good[:8])[0]
    rng = np.random.default_rng(0)
    path = tmp_path / "fuzz.safetensors"
    outcomes = {"error": 0, "loaded": 0}
    for trial in range(300):
        data = bytearray(good[: header_end + 64] if trial % 3 == 0 else good)
        where = rng.integers(0, header_end, size=rng.integers(1, 4))
        for i in where:
            data[i] = rng.choice([ord("0"), ord("9"), ord("]"), ord('"'), 0, 255,
                                  int(rng.integers(0, 256))])
        path.write_bytes(bytes(data))
        try:
            tensors = load_safetensors(path)
        except ValueError:
            outcomes["error"] += 1
            continue
        outcomes["loaded"] += 1
        assert sum(t.nbytes for t in tensors.values()) <= len(data)
    assert outcomes["error"] > 100  # the check is exercised, not vacuous


def test_npz_errors(tmp_path):
    good = tmp_path / "good.npz"
    save_npz({"a": np.arange(1000.0)}, good)
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match="cut.npz"):
        load_npz(tmp_path / "cut.npz")
    np.save(tmp_path / "single.npy", np.arange(3))
    with pytest.raises(ValueError, match="single .npy array"):
        load_npz(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# _shape_message: eight tensors are named, the rest counted
def test_more_than_eight_tensors_of_another_shape_are_counted_after_eight(tiny_config):
    config = BertConfig.from_dict({**tiny_config.to_dict(), "hidden_size": 51})
    old, new = expected_shapes(tiny_config), expected_shapes(config)
    wrong = [name for name in new if new[name] != old[name]]  # load_state_dict: heads included
    assert len(wrong) > 8
    with pytest.raises(ValueError) as info:
        load_state_dict(HF_TINY, config)
    message = str(info.value)
    assert f": {len(wrong)} tensor(s) disagree with the config: " in message
    assert message.count(" has shape ") == 8
    assert f" (and {len(wrong) - 8} more). Is config.json the one" in message


# check_state_dict: the hint, word for word, at the end of the message
def test_encoder_only_checkpoint_hint_is_the_last_part_of_the_message(tiny_config, tiny_params):
    tensors = {k: v for k, v in tiny_params.items() if k.startswith("bert.")}
    with pytest.raises(ValueError, match=r" \(this looks like a checkpoint without pre-training heads: load it "
                                         r"with architecture='BertModel'\)$"):
        load_state_dict(tensors, tiny_config)


# read_safetensors_header: a bad file is named in the message
def test_header_of_a_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match=f"^{path}: not a safetensors file: 2 bytes is too short"):
        read_safetensors_header(path)


# save_state_dict: its own name in the message
def test_save_state_dict_names_itself_for_a_tensor_that_is_not_an_array(tmp_path):
    with pytest.raises(TypeError, match="^save_state_dict: tensor 'a' must be a NumPy array, got list"):
        save_state_dict({"a": [1.0]}, tmp_path / "m.safetensors")


# read_checkpoint: every PyTorch pickle suffix is refused before it is opened
@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.pth"])
def test_pytorch_pickle_files_are_refused_by_suffix(tmp_path, tiny_config, name):
    (tmp_path / name).write_bytes(b"not read")
    with pytest.raises(ValueError, match=f"{name} is a PyTorch pickle file, which numpy_bert will not read"):
        load_state_dict(tmp_path / name, tiny_config)


# load_state_dict / load_pretrained: the message names the function that refused the dtype
def test_a_dtype_that_is_not_float_names_the_loader(tiny_config):
    from numpy_bert.weights import load_pretrained
    with pytest.raises(TypeError, match="^load_state_dict: dtype must be a floating-point type such as "
                                        "np.float32 or np.float64, got int32$"):
        load_state_dict(HF_TINY, tiny_config, dtype=np.int32)
    with pytest.raises(TypeError, match="^load_pretrained: dtype must be a floating-point type"):
        load_pretrained(HF_TINY, tiny_config, "BertModel", dtype=np.int32)


# -- found by the full mutation run of weights (docs/mutation.md)
# -- Most of these pin a whole user-facing message: the survivors changed a word of it, and the
# -- tests above matched only a part. The comment above each group names the functions whose
# -- surviving mutants it kills; docs/mutation.md lists the survivors judged equivalent.

def with_b(**entry):
    """GOOD with tensor "b" changed (None drops a key)."""
    b = {**GOOD["b"], **entry}
    return {**GOOD, "b": {k: v for k, v in b.items() if v is not None}}


ZEROS_12 = b"\0" * 12
GOOD_BODY_BYTES = len(json.dumps(GOOD).encode())
BIG_SHAPE = [1] * 65

# _read_header: every refusal, each with its whole message (after "<path>: ")
CORRUPT_FILES = [
    pytest.param(b"\0" * 7, "not a safetensors file: 7 bytes is too short for the 8-byte header length",
                 id="7-bytes"),
    pytest.param(struct.pack("<Q", 0),
                 "corrupt safetensors file: header is not valid JSON: Expecting value at character 0",
                 id="8-bytes-an-empty-header"),
    pytest.param(safetensors_bytes(GOOD, ZEROS_12, length=MAX_HEADER_BYTES + 1),
                 "corrupt safetensors file: header length 100000001 bytes is larger than the "
                 "100000000-byte limit (is this really a safetensors file?)", id="header-over-the-limit"),
    pytest.param(safetensors_bytes(GOOD, ZEROS_12, length=MAX_HEADER_BYTES),
                 f"corrupt or truncated safetensors file: the header claims 100000000 bytes but the file "
                 f"has only {GOOD_BODY_BYTES + 12} after the length", id="header-at-the-limit"),
    pytest.param(safetensors_bytes(GOOD, ZEROS_12, length=GOOD_BODY_BYTES + 13),
                 f"corrupt or truncated safetensors file: the header claims {GOOD_BODY_BYTES + 13} bytes but "
                 f"the file has only {GOOD_BODY_BYTES + 12} after the length", id="header-one-byte-past-the-end"),
    pytest.param(safetensors_bytes(b"\xff\xfe{}", ZEROS_12),
                 "corrupt safetensors file: header is not UTF-8 ('utf-8' codec can't decode byte 0xff in "
                 "position 0: invalid start byte)", id="not-utf8"),
    pytest.param(safetensors_bytes(b"{'a': not json}", ZEROS_12),
                 "corrupt safetensors file: header is not valid JSON: Expecting property name enclosed in "
                 "double quotes at character 1", id="not-json"),
    pytest.param(safetensors_bytes(b"[1, 2, 3]", ZEROS_12),
                 "corrupt safetensors file: header must be a JSON object, got list", id="a-list"),
    pytest.param(safetensors_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                   b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8),
                 "corrupt safetensors file: a JSON object names 'a' twice", id="a-name-twice"),
    pytest.param(safetensors_bytes({**GOOD, "__metadata__": {"format": 1}}, ZEROS_12),
                 "corrupt safetensors file: __metadata__ must map strings to strings, got {'format': 1}",
                 id="metadata-not-strings"),
    pytest.param(safetensors_bytes({**GOOD, "b": [1, 2, 3]}, ZEROS_12),
                 "tensor 'b': header entry must be an object with dtype, shape, data_offsets; got [1, 2, 3]",
                 id="entry-not-an-object"),
    pytest.param(safetensors_bytes(with_b(shape=None, data_offsets=None), ZEROS_12),
                 "tensor 'b': header entry lacks shape, data_offsets", id="entry-lacks-two-keys"),
    pytest.param(safetensors_bytes(with_b(dtype="F8_E4M3"), ZEROS_12),
                 "tensor 'b': unknown or unsupported dtype 'F8_E4M3'; numpy_bert reads F64, F32, F16, BF16, "
                 "I64, I32, I16, I8, U64, U32, U16, U8, BOOL", id="unknown-dtype"),
    pytest.param(safetensors_bytes(with_b(shape=[-1]), ZEROS_12),
                 "tensor 'b': shape must be a list of non-negative integers, got [-1]", id="negative-shape"),
    pytest.param(safetensors_bytes(with_b(data_offsets=[-4, 12]), ZEROS_12),
                 "tensor 'b': data_offsets must be [begin, end] with non-negative integers, got [-4, 12]",
                 id="negative-offset"),
    pytest.param(safetensors_bytes(with_b(data_offsets=[8.0, 12.0]), ZEROS_12),
                 "tensor 'b': data_offsets must be [begin, end] with non-negative integers, got [8.0, 12.0]",
                 id="float-offsets"),
    pytest.param(safetensors_bytes(with_b(data_offsets=[8, True]), ZEROS_12),
                 "tensor 'b': data_offsets must be [begin, end] with non-negative integers, got [8, True]",
                 id="bool-offset"),
    pytest.param(safetensors_bytes(with_b(shape=BIG_SHAPE), ZEROS_12),
                 f"tensor 'b': shape {BIG_SHAPE} is larger than any array can be (at most 64 dimensions "
                 f"and 2**63 bytes)", id="65-dimensions"),
    pytest.param(safetensors_bytes(with_b(shape=[2 ** 61]), ZEROS_12),  # 2**61 float32: 2**63 bytes
                 "tensor 'b': shape [2305843009213693952] is larger than any array can be (at most 64 "
                 "dimensions and 2**63 bytes)", id="2**63-bytes"),
    pytest.param(safetensors_bytes(with_b(dtype="U8", shape=[2 ** 63 - 1]), ZEROS_12),  # one byte less: sized
                 "tensor 'b': data_offsets [8, 12] hold 4 bytes but shape [9223372036854775807] of U8 needs "
                 "9223372036854775807", id="2**63-1-bytes"),
    pytest.param(safetensors_bytes(with_b(data_offsets=[12, 8]), ZEROS_12),
                 "tensor 'b': data_offsets [12, 8] end before they begin", id="end-before-begin"),
    pytest.param(safetensors_bytes(with_b(shape=[3], data_offsets=[8, 20]), ZEROS_12),
                 "tensor 'b': data_offsets [8, 20] run past the end of the data buffer (12 bytes); the file "
                 "is truncated or corrupt", id="past-the-end"),
    pytest.param(safetensors_bytes(with_b(dtype="F64"), ZEROS_12),
                 "tensor 'b': data_offsets [8, 12] hold 4 bytes but shape [1] of F64 needs 8",
                 id="size-not-the-shapes"),
    pytest.param(safetensors_bytes({**GOOD, "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}},
                                   ZEROS_12),
                 "corrupt safetensors file: tensor 'b' at bytes [4, 6) overlaps tensor 'a', which ends at 8",
                 id="inside-another"),
    pytest.param(safetensors_bytes({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, ZEROS_12),
                 "corrupt safetensors file: 4 bytes before tensor 'b' (at 8) belong to no tensor", id="gap"),
    pytest.param(safetensors_bytes(GOOD, b"\0" * 16),
                 "corrupt safetensors file: the tensors cover 12 bytes but the data buffer has 16",
                 id="bytes-after-the-last-tensor"),
]


@pytest.mark.parametrize("data, message", CORRUPT_FILES)
def test_corrupt_files_are_refused_with_the_whole_message(tmp_path, data, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    for read in (load_safetensors, read_safetensors_header):
        with pytest.raises(ValueError) as info:
            read(path)
        assert str(info.value) == f"{path}: {message}"


# _read_header: the largest number of dimensions NumPy allows is accepted
def test_a_tensor_of_64_dimensions_loads(tmp_path):
    save_safetensors({"x": np.full((1,) * 64, 2.5, np.float32)}, tmp_path / "x.safetensors")
    got = load_safetensors(tmp_path / "x.safetensors")["x"]
    assert got.shape == (1,) * 64 and got.item() == 2.5


# _read_header: tensors are ordered by where they begin, an empty one included
def test_an_empty_tensor_listed_first_loads_in_data_order(tmp_path):
    header = {"e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
              "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
              "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    path = write_raw(tmp_path / "e.safetensors", header, np.array([1.0, 2.0], "<f4").tobytes())
    got = load_safetensors(path)
    assert list(got) == ["a", "e", "b"]
    assert got["a"].tolist() == [1.0] and got["e"].shape == (0,) and got["b"].tolist() == [2.0]


# _check_tensor_name (through save_safetensors and save_npz): the reason, word for word
PATH_NAME_REFUSAL = ("; names that read as paths are refused (an archive or an exporter could write outside "
                     "its directory): use dotted names such as 'bert.pooler.dense.weight'")


@pytest.mark.parametrize("name, contains", [
    ("bert/pooler", "'/'"),
    ("bert\\pooler", "'\\\\'"),
    ("bert..pooler", "'..'"),
    ("../../etc/x", "'/' and '..'"),
    ("a\\..\\b", "'\\\\' and '..'"),
    ("bert.pooler\n", "a control character"),
    ("bert\x00pooler", "a control character"),
    ("bert\x1fpooler", "a control character"),
    ("bert\x7fpooler", "a control character"),
    ("a/b\tc", "'/' and a control character"),
])
def test_names_that_read_as_paths_are_refused_saying_why(tmp_path, name, contains):
    for save, what, file in ((save_safetensors, "save_safetensors", "x.safetensors"),
                             (save_npz, "save_npz", "x.npz")):
        with pytest.raises(ValueError) as info:
            save({name: np.zeros(1, np.float32)}, tmp_path / file)
        assert str(info.value) == f"{what}: tensor name {name!r} contains {contains}" + PATH_NAME_REFUSAL
        assert not (tmp_path / file).exists()


@pytest.mark.parametrize("name", ["bert pooler", "bert.pooler.dense.weight", "café", "a~b", "a.b.c"])
def test_names_without_path_characters_are_written(tmp_path, name):
    save_safetensors({name: np.ones(2, np.float32)}, tmp_path / "x.safetensors")
    assert load_safetensors(tmp_path / "x.safetensors")[name].tolist() == [1.0, 1.0]


# _check_tensor_dict, save_safetensors: what the writer refuses, with the whole message
@pytest.mark.parametrize("kwargs, error, message", [
    pytest.param(dict(tensors=[("a", np.zeros(1))]), TypeError,
                 "save_safetensors needs a dict of name -> ndarray, got list", id="not-a-dict"),
    pytest.param(dict(tensors={1: np.zeros(1)}), TypeError,
                 "save_safetensors: tensor names must be non-empty strings, got 1", id="name-not-a-string"),
    pytest.param(dict(tensors={"": np.zeros(1)}), TypeError,
                 "save_safetensors: tensor names must be non-empty strings, got ''", id="empty-name"),
    pytest.param(dict(tensors={"a": np.zeros(1)}, metadata={"format": 1}), TypeError,
                 "save_safetensors: metadata must be a dict of str -> str", id="metadata-value-not-a-string"),
    pytest.param(dict(tensors={"a": np.zeros(1)}, metadata=[("format", "pt")]), TypeError,
                 "save_safetensors: metadata must be a dict of str -> str", id="metadata-not-a-dict"),
    pytest.param(dict(tensors={"a": np.zeros(1)}, bf16=["a", "c", "b"]), ValueError,
                 "save_safetensors: bf16 names ['b', 'c'] are not tensors", id="bf16-names-not-tensors"),
    pytest.param(dict(tensors={"ids": np.arange(3)}, bf16=["ids"]), TypeError,
                 "save_safetensors: tensor 'ids' (int64) is not floating point and cannot be stored as BF16",
                 id="bf16-of-integers"),
])
def test_writer_refusals_say_what_is_wrong(tmp_path, kwargs, error, message):
    path = tmp_path / "x.safetensors"
    with pytest.raises(error) as info:
        save_safetensors(path=path, **kwargs)
    assert str(info.value) == message
    assert not path.exists()


# save_safetensors: names and metadata are UTF-8 in the header, as safetensors writes them
def test_non_ascii_names_and_metadata_are_written_as_utf8(tmp_path):
    path = tmp_path / "u.safetensors"
    save_safetensors({"café": np.zeros(1, np.float32)}, path, metadata={"author": "Zoë"})
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = raw[8:8 + length]
    assert '"café"'.encode() in header and '"Zoë"'.encode() in header  # not "caf\\u00e9"
    assert load_safetensors(path)["café"].tolist() == [0.0]
    assert read_safetensors_header(path)[1] == {"author": "Zoë"}


# save_safetensors: big-endian arrays are written little-endian (np.arange(5, dtype=">f4") * 1.5 is
# native, so the test above does not check it)
@pytest.mark.parametrize("dtype", [">f8", ">f4", ">f2", ">i8", ">i4", ">u2"])
def test_big_endian_arrays_are_written_little_endian(tmp_path, dtype):
    x = (np.arange(6).reshape(2, 3) * 3 - 1).astype(np.dtype(dtype).kind + "8").astype(dtype)
    assert x.dtype.byteorder == ">"
    path = tmp_path / "be.safetensors"
    save_safetensors({"x": x}, path)
    assert path.read_bytes().endswith(x.astype(x.dtype.newbyteorder("<")).tobytes())
    got = load_safetensors(path)["x"]
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, x)


# float32_to_bf16: uint16 bit patterns, from any floating input
def test_float32_to_bf16_gives_uint16_patterns_for_float64_and_list_input(tmp_path):
    want = np.array([0x3F80, 0xC060, 0x0000, 0x8000], np.uint16)  # 1.0, -3.5, 0.0, -0.0
    values = [1.0, -3.5, 0.0, -0.0]
    for x in (values, np.array(values), np.array(values, np.float32)):
        got = float32_to_bf16(x)
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, want)
    save_safetensors({"x": np.array(values)}, tmp_path / "b.safetensors", bf16=["x"])  # float64 in
    assert read_safetensors_header(tmp_path / "b.safetensors")[0]["x"] == ("BF16", (4,))
    assert load_safetensors(tmp_path / "b.safetensors")["x"].tolist() == values


# float32_to_bf16: a NaN stays NaN, quiet (a payload only in the low 16 bits would read as infinity)
def test_float32_to_bf16_keeps_nans_nan():
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00000], np.uint32)
    got = float32_to_bf16(bits.view(np.float32))
    np.testing.assert_array_equal(got, np.array([0x7FC0, 0xFFC0, 0x7FC0, 0x7FE0], np.uint16))
    assert np.isnan(bf16_to_float32(got)).all()


# load_safetensors: dtype= converts floating tensors to it, and one already of it stays a view
def test_load_safetensors_converts_floats_to_the_requested_dtype(tmp_path):
    path = tmp_path / "d.safetensors"
    save_safetensors({"d": np.arange(3.0), "f": np.arange(3, dtype=np.float32),
                      "h": np.arange(3, dtype=np.float16), "b": np.arange(3, dtype=np.float32),
                      "i": np.arange(3)}, path, bf16=["b"])
    for dtype in (np.float32, np.float16):
        got = load_safetensors(path, dtype=dtype)
        assert {name: array.dtype for name, array in got.items()} == {
            "d": dtype, "f": dtype, "h": dtype, "b": dtype, "i": np.int64}
        for array in got.values():
            assert array.tolist() == [0, 1, 2]


def test_a_tensor_already_of_the_requested_dtype_stays_a_read_only_view(tmp_path):
    path = tmp_path / "f.safetensors"
    save_safetensors({"f": np.arange(3, dtype=np.float32)}, path)
    got = load_safetensors(path, dtype=np.float32)["f"]
    assert not got.flags.owndata and not got.flags.writeable   # the read-only map, not a copy
    got = load_safetensors(path, dtype=np.float32, writable=True)["f"]
    assert not got.flags.owndata and got.flags.writeable


# load_safetensors: an empty tensor is writable exactly when the others are
def test_empty_tensors_follow_writable(tmp_path):
    path = tmp_path / "e.safetensors"
    save_safetensors({"e": np.zeros((0, 4), np.float32), "x": np.ones(2, np.float32)}, path)
    for writable in (False, True):
        got = load_safetensors(path, writable=writable)
        assert got["e"].flags.writeable is writable and got["x"].flags.writeable is writable


# load_safetensors: a file that changes size between the checks and the mapping is refused
def test_a_file_that_grows_while_it_is_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "g.safetensors"
    save_safetensors({"x": np.ones(2, np.float32)}, path)

    def append_then_map(fileno, length, access):  # another process appends to the file meanwhile
        with open(path, "ab") as f:
            f.write(b"\0" * 8)
        return mmap.mmap(fileno, length, access=access)

    monkeypatch.setattr(numpy_bert.weights, "mmap", types.SimpleNamespace(
        mmap=append_then_map, ACCESS_READ=mmap.ACCESS_READ, ACCESS_COPY=mmap.ACCESS_COPY))
    with pytest.raises(ValueError) as info:
        load_safetensors(path)
    assert str(info.value) == f"{path}: the file changed size while being read; try again"


# read_checkpoint: read-only unless asked, and dtype= for both formats
def test_read_checkpoint_is_read_only_by_default_and_converts_on_request(tmp_path):
    tensors = {"w": np.arange(4.0), "ids": np.arange(3)}
    save_safetensors(tensors, tmp_path / "c.safetensors")
    save_npz(tensors, tmp_path / "c.npz")
    assert not read_checkpoint(tmp_path / "c.safetensors")["w"].flags.writeable
    assert read_checkpoint(tmp_path / "c.safetensors", writable=True)["w"].flags.writeable
    for file in ("c.safetensors", "c.npz"):
        got = read_checkpoint(tmp_path / file, dtype=np.float32)
        assert got["w"].dtype == np.float32 and got["ids"].dtype == np.int64, file
        assert got["w"].tolist() == [0.0, 1.0, 2.0, 3.0], file


# load_npz: dtype= converts only the floating arrays
def test_load_npz_converts_only_floating_arrays(tmp_path):
    save_npz({"w": np.arange(4.0), "ids": np.arange(3), "mask": np.array([True, False])}, tmp_path / "p.npz")
    got = load_npz(tmp_path / "p.npz", dtype=np.float32)
    assert {name: array.dtype for name, array in got.items()} == {
        "w": np.float32, "ids": np.int64, "mask": np.bool_}


# _find_checkpoint_file: a directory with only model.npz, and the messages for what is not there
def test_a_model_directory_with_only_model_npz_loads(tmp_path, tiny_config, tiny_params):
    save_npz(tiny_params, tmp_path / "model.npz")
    params = load_state_dict(tmp_path, tiny_config)
    for name, want in tiny_params.items():
        np.testing.assert_array_equal(params[name], want, err_msg=name)


def test_missing_checkpoints_are_named(tmp_path, tiny_config):
    with pytest.raises(FileNotFoundError) as info:
        load_state_dict(tmp_path, tiny_config)
    assert str(info.value) == f"no model.safetensors or model.npz in {tmp_path}"
    with pytest.raises(FileNotFoundError) as info:
        load_state_dict(tmp_path / "nothing.safetensors", tiny_config)
    assert str(info.value) == f"checkpoint {tmp_path / 'nothing.safetensors'} does not exist"


# check_finite: the message counts NaN and infinite values per tensor, under the checkpoint's names
NONFINITE_ADVICE = (". The file is damaged or was saved from a run that diverged; to load it anyway for "
                    "inspection, pass allow_nonfinite=True (numpy-bert: --allow-nonfinite)")


def test_check_finite_counts_nan_and_infinite_values():
    w = np.ones(10, np.float32)
    w[[1, 4]] = np.nan
    w[[2, 3, 7]] = [np.inf, -np.inf, np.inf]
    with pytest.raises(ValueError) as info:
        check_finite({"ok": np.ones(3), "w": w})
    assert str(info.value) == ("state dict: 1 tensor(s) hold NaN or infinite values: "
                               "w (2 NaN, 3 infinite of 10 values)" + NONFINITE_ADVICE)
    assert check_finite({"ok": np.ones(3), "empty": np.zeros(0)}) is None


def test_check_finite_uses_the_checkpoints_names_where_given():
    params = {"a": np.array([np.nan]), "b": np.array([1.0, np.inf])}
    with pytest.raises(ValueError) as info:
        check_finite(params, "model.safetensors", names={"a": "bert.a"})
    assert str(info.value) == ("model.safetensors: 2 tensor(s) hold NaN or infinite values: "
                               "bert.a (1 NaN, 0 infinite of 1 values); b (0 NaN, 1 infinite of 2 values)"
                               + NONFINITE_ADVICE)


@pytest.mark.parametrize("count", [8, 9])
def test_check_finite_names_eight_tensors_and_counts_the_rest(count):
    params = {f"t{i}": np.array([np.inf]) for i in range(count)}
    shown = "; ".join(f"t{i} (0 NaN, 1 infinite of 1 values)" for i in range(8))
    more = "; ... (1 more)" if count == 9 else ""
    with pytest.raises(ValueError) as info:
        check_finite(params)
    assert str(info.value) == (f"state dict: {count} tensor(s) hold NaN or infinite values: {shown}{more}"
                               + NONFINITE_ADVICE)


def test_check_finite_with_allow_nonfinite_warns_instead():
    with pytest.warns(UserWarning) as record:
        assert check_finite({"w": np.array([np.nan, 1.0])}, allow_nonfinite=True) is None
    assert [str(w.message) for w in record] == [
        "state dict: loaded with allow_nonfinite=True although 1 tensor(s) hold NaN or infinite values: "
        "w (1 NaN, 0 infinite of 2 values); every output they reach will be NaN"]


# load_state_dict, load_pretrained: non-finite parameters are refused by default, under the
# checkpoint's names (here without "bert."), and loaded with a warning on request
LOADERS = [pytest.param(lambda *args, **kwargs: load_state_dict(*args, **kwargs), id="load_state_dict"),
           pytest.param(lambda *args, **kwargs: load_pretrained(*args, **kwargs)[0], id="load_pretrained")]


@pytest.mark.parametrize("load", LOADERS)
def test_loaders_refuse_nonfinite_parameters_unless_allowed(tiny_config, tiny_params, load):
    tensors = {k.removeprefix("bert."): v for k, v in tiny_params.items()}
    bias = tensors["pooler.dense.bias"].copy()
    bias[[3, 5]] = [np.nan, -np.inf]
    tensors["pooler.dense.bias"] = bias
    values = "pooler.dense.bias (1 NaN, 1 infinite of 48 values)"
    with pytest.raises(ValueError) as info:
        load(tensors, tiny_config, "BertForPreTraining")
    assert str(info.value) == f"state dict: 1 tensor(s) hold NaN or infinite values: {values}" + NONFINITE_ADVICE
    with pytest.warns(UserWarning) as record:
        params = load(tensors, tiny_config, "BertForPreTraining", allow_nonfinite=True)
    assert [str(w.message) for w in record] == [
        f"state dict: loaded with allow_nonfinite=True although 1 tensor(s) hold NaN or infinite values: "
        f"{values}; every output they reach will be NaN"]
    np.testing.assert_array_equal(params["bert.pooler.dense.bias"], bias)


@pytest.mark.skipif(hasattr(load_state_dict, "__wrapped__"),
                    reason="a wrapper around the loaders (mutmut's trampolines) adds stack frames")
def test_the_nonfinite_warning_points_at_the_callers_line(tiny_config, tiny_params):
    tensors = {**tiny_params, "cls.predictions.bias": np.full(99, np.nan, np.float32)}
    with pytest.warns(UserWarning) as record:
        load_state_dict(tensors, tiny_config, allow_nonfinite=True)
    with pytest.warns(UserWarning) as record_pretrained:
        load_pretrained(tensors, tiny_config, "BertForPreTraining", allow_nonfinite=True)
    assert record[0].filename == record_pretrained[0].filename == __file__


# _as_parameter: float64 beyond float32's range is infinite, said by check_finite and not by NumPy
def test_float64_values_beyond_float32_are_named_as_infinite_without_a_numpy_warning(tiny_config, tiny_params):
    tensors = {k: v.astype(np.float64) for k, v in tiny_params.items()}
    tensors["bert.pooler.dense.bias"][:2] = [1e300, -1e300]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "overflow encountered in cast" included
        with pytest.raises(ValueError) as info:
            load_state_dict(tensors, tiny_config)
        assert str(info.value) == ("state dict: 1 tensor(s) hold NaN or infinite values: "
                                   "bert.pooler.dense.bias (0 NaN, 2 infinite of 48 values)" + NONFINITE_ADVICE)
        params = load_state_dict(tensors, tiny_config, dtype=np.float64)
    assert params["bert.pooler.dense.bias"][:2].tolist() == [1e300, -1e300]


# _as_parameter: float32 parameters are not copied: they stay views of the file's map
def test_float32_checkpoints_load_without_copying(tiny_config):
    for params in (load_state_dict(HF_TINY, tiny_config),
                   load_pretrained(HF_TINY, tiny_config, "BertForPreTraining")[0]):
        assert [name for name, value in params.items() if value.flags.owndata] == []


# _shape_message: a dimension no config field sets gets no "(field=...)"; details are "; "-separated
CONFIG_ADVICE = " Is config.json the one that belongs to these weights?"


def test_a_shape_no_config_field_sets_is_explained_without_fields(tiny_config, tiny_params):
    tensors = {**tiny_params, "cls.seq_relationship.bias": np.zeros(3, np.float32)}
    with pytest.raises(ValueError) as info:
        load_state_dict(tensors, tiny_config)
    assert str(info.value) == ("state dict: 1 tensor(s) disagree with the config: cls.seq_relationship.bias has "
                               "shape (3,) but the config expects (2,)." + CONFIG_ADVICE)
    tensors["cls.seq_relationship.weight"] = np.zeros((3, 48), np.float32)
    with pytest.raises(ValueError) as info:
        load_state_dict(tensors, tiny_config)
    assert str(info.value) == ("state dict: 2 tensor(s) disagree with the config: cls.seq_relationship.weight has "
                               "shape (3, 48) but the config expects (2, 48) (hidden_size=48); "
                               "cls.seq_relationship.bias has shape (3,) but the config expects (2,)."
                               + CONFIG_ADVICE)


LAYER_0_VECTORS = ["bert.encoder.layer.0." + name for name in (
    "attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias",
    "attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
    "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias")]


@pytest.mark.parametrize("count", [8, 9])
def test_eight_wrong_shapes_are_named_and_a_ninth_counted(tiny_config, tiny_params, count):
    tensors = {**tiny_params, **{name: np.zeros(47, np.float32) for name in LAYER_0_VECTORS[:count]}}
    details = "; ".join(f"{name} has shape (47,) but the config expects (48,) (hidden_size=48)"
                        for name in LAYER_0_VECTORS[:8])
    more = " (and 1 more)" if count == 9 else ""
    with pytest.raises(ValueError) as info:
        load_state_dict(tensors, tiny_config)
    assert str(info.value) == (f"state dict: {count} tensor(s) disagree with the config: {details}{more}."
                               + CONFIG_ADVICE)


# check_state_dict, _format_names: defaults, the hint only when all that is missing is cls.*, and
# eight names shown, the rest counted
def test_check_state_dict_accepts_a_complete_bert_for_pretraining_by_default(tiny_config, tiny_params):
    assert check_state_dict(tiny_params, tiny_config) is None


@pytest.mark.parametrize("drop, add, message", [
    (["bert.pooler.dense.bias"], [], "missing 1 tensor(s): bert.pooler.dense.bias"),
    ([], ["extra.weight"], "unexpected 1 tensor(s): extra.weight"),
    (["bert.pooler.dense.bias", "bert.pooler.dense.weight"], ["extra.weight"],
     "missing 2 tensor(s): bert.pooler.dense.bias, bert.pooler.dense.weight; unexpected 1 tensor(s): extra.weight"),
    (["cls.seq_relationship.bias"], ["extra.weight"],
     "missing 1 tensor(s): cls.seq_relationship.bias; unexpected 1 tensor(s): extra.weight (this looks like a "
     "checkpoint without pre-training heads: load it with architecture='BertModel')"),
])
def test_check_state_dict_says_what_is_missing_and_unexpected(tiny_config, tiny_params, drop, add, message):
    params = {name: value for name, value in tiny_params.items() if name not in drop}
    params.update({name: np.zeros(1, np.float32) for name in add})
    with pytest.raises(ValueError) as info:
        check_state_dict(params, tiny_config)
    assert str(info.value) == "checkpoint does not match BertForPreTraining for this config: " + message


LAYER_1_ATTENTION = ["bert.encoder.layer.1.attention." + name for name in (  # sorted
    "output.LayerNorm.bias", "output.LayerNorm.weight", "output.dense.bias", "output.dense.weight",
    "self.key.bias", "self.key.weight", "self.query.bias", "self.query.weight", "self.value.bias",
    "self.value.weight")]


@pytest.mark.parametrize("count, more", [(8, ""), (9, ", ... (1 more)"), (10, ", ... (2 more)")])
def test_eight_missing_names_are_shown_and_the_rest_counted(tiny_config, tiny_params, count, more):
    params = {name: value for name, value in tiny_params.items() if name not in LAYER_1_ATTENTION[:count]}
    with pytest.raises(ValueError) as info:
        check_state_dict(params, tiny_config, source="model.safetensors")
    assert str(info.value) == (f"model.safetensors does not match BertForPreTraining for this config: missing "
                               f"{count} tensor(s): " + ", ".join(LAYER_1_ATTENTION[:8]) + more)


# _check_architecture: the known architectures, listed
def test_an_unknown_architecture_lists_the_known_ones(tiny_config):
    with pytest.raises(ValueError) as info:
        expected_shapes(tiny_config, "BertLMHeadModel")
    assert str(info.value) == ("architecture must be one of BertModel, BertForPreTraining, BertForMaskedLM, "
                               "BertForNextSentencePrediction, BertForSequenceClassification, "
                               "BertForMultipleChoice, BertForTokenClassification, BertForQuestionAnswering, "
                               "got 'BertLMHeadModel'")


# parameter_layout: BertForPreTraining by default
def test_parameter_layout_defaults_to_bert_for_pretraining():
    layout = parameter_layout(2)
    assert layout == parameter_layout(2, "BertForPreTraining")
    assert layout["cls.predictions.bias"] == ("V",)
    assert layout["bert.encoder.layer.1.intermediate.dense.weight"] == ("I", "H")


# is_head: the embeddings and the layers are the encoder; the pooler and the heads are not
@pytest.mark.parametrize("name, head", [
    ("bert.embeddings.word_embeddings.weight", False), ("embeddings.LayerNorm.bias", False),
    ("bert.encoder.layer.0.output.dense.bias", False), ("encoder.layer.1.attention.self.key.weight", False),
    ("bert.pooler.dense.weight", True), ("pooler.dense.bias", True), ("cls.predictions.bias", True),
    ("classifier.weight", True), ("qa_outputs.bias", True),
])
def test_is_head(name, head):
    assert is_head(name) is head


# load_pretrained: a missing encoder tensor, what the checkpoint has instead (four names shown)
def test_load_pretrained_names_a_missing_encoder_tensor_and_what_the_checkpoint_has(tiny_config, tiny_params):
    tensors = {name: value for name, value in tiny_params.items() if name != "bert.embeddings.LayerNorm.weight"}
    with pytest.raises(ValueError) as info:
        load_pretrained(tensors, tiny_config, "BertForSequenceClassification")
    assert str(info.value) == (
        "state dict does not hold a BERT encoder for this config: missing 1 tensor(s): "
        "bert.embeddings.LayerNorm.weight; it has cls.predictions.bias, cls.predictions.transform.LayerNorm.bias, "
        "cls.predictions.transform.LayerNorm.weight, cls.predictions.transform.dense.bias, ... (3 more)")
    tensors = {name: value for name, value in tensors.items() if name.startswith("bert.")}
    with pytest.raises(ValueError) as info:
        load_pretrained(tensors, tiny_config, "BertModel")
    assert str(info.value) == ("state dict does not hold a BERT encoder for this config: missing 1 tensor(s): "
                               "embeddings.LayerNorm.weight")


# load_pretrained: an encoder of another shape is refused, ignore_mismatched_sizes or not
@pytest.mark.parametrize("ignore_mismatched_sizes", [False, True])
def test_load_pretrained_refuses_an_encoder_of_another_shape(tiny_config, tiny_params, ignore_mismatched_sizes):
    tensors = {**tiny_params, "bert.encoder.layer.0.output.dense.bias": np.zeros(47, np.float32)}
    with pytest.raises(ValueError) as info:
        load_pretrained(tensors, tiny_config, "BertForPreTraining", ignore_mismatched_sizes=ignore_mismatched_sizes)
    assert str(info.value) == ("state dict: 1 tensor(s) disagree with the config: "
                               "bert.encoder.layer.0.output.dense.bias has shape (47,) but the config expects "
                               "(48,) (hidden_size=48)." + CONFIG_ADVICE)


# load_pretrained: a head for another number of labels is refused by default, saying what to do
def test_load_pretrained_a_head_for_another_number_of_labels(tiny_config, tiny_params):
    tensors = {name: value for name, value in tiny_params.items() if name.startswith("bert.")}
    tensors.update({"classifier.weight": np.ones((3, 48), np.float32), "classifier.bias": np.ones(3, np.float32)})
    with pytest.raises(ValueError) as info:
        load_pretrained(tensors, tiny_config, "BertForSequenceClassification")
    assert str(info.value) == (
        "state dict: 2 tensor(s) disagree with the config: classifier.weight has shape (3, 48) but the config "
        "expects (2, 48) (num_labels=2, hidden_size=48); classifier.bias has shape (3,) but the config expects "
        "(2,) (num_labels=2). The checkpoint's head was trained for another task or number of labels: pass "
        "ignore_mismatched_sizes=True (numpy-bert: --ignore-mismatched-sizes) to initialise a new head instead, "
        "as transformers does")
    params, info = load_pretrained(tensors, tiny_config, "BertForSequenceClassification",
                                   ignore_mismatched_sizes=True)
    assert info == {"missing_keys": [], "unexpected_keys": [],
                    "mismatched_keys": [("classifier.weight", (3, 48), (2, 48)), ("classifier.bias", (3,), (2,))]}
    assert list(params) == [name for name in expected_shapes(tiny_config, "BertForSequenceClassification")
                            if not name.startswith("classifier.")]


# _normalize_names, _untie, _as_parameter (through both loaders): the source and the tensor, named
@pytest.mark.parametrize("name, value, message", [
    pytest.param("pooler.dense.bias", lambda params: params["bert.pooler.dense.bias"],
                 "state dict: tensor 'pooler.dense.bias' appears twice (as 'bert.pooler.dense.bias' and "
                 "'pooler.dense.bias'); which one to use is ambiguous", id="a-name-twice"),
    pytest.param("cls.predictions.decoder.weight",
                 lambda params: params["bert.embeddings.word_embeddings.weight"] + 1,
                 "state dict: cls.predictions.decoder.weight differs from embeddings.word_embeddings.weight; "
                 "numpy_bert's MLM decoder is tied to them (as in BERT), so an untied decoder cannot be loaded",
                 id="untied-decoder"),
    pytest.param("cls.seq_relationship.bias", lambda params: np.array([1, 2], np.int64),
                 "state dict: tensor 'cls.seq_relationship.bias' has dtype int64; parameters must be floating "
                 "point", id="integer-parameter"),
])
@pytest.mark.parametrize("load", LOADERS)
def test_loader_refusals_name_the_source_and_the_tensor(tiny_config, tiny_params, load, name, value, message):
    with pytest.raises(ValueError) as info:
        load({**tiny_params, name: value(tiny_params)}, tiny_config, "BertForPreTraining")
    assert str(info.value) == message


# save_state_dict: the caller's metadata joins {"format": "pt"}
def test_save_state_dict_keeps_the_callers_metadata(tmp_path, tiny_params):
    save_state_dict(tiny_params, tmp_path / "m.safetensors", metadata={"source": "unit test"})
    assert read_safetensors_header(tmp_path / "m.safetensors")[1] == {"format": "pt", "source": "unit test"}
