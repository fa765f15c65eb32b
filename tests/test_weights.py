"""Tests of numpy_bert.weights: safetensors/npz I/O and HF parameter names.

Files written by the reference libraries live in tests/fixtures/weights/ (written by
tests/reference/make_weights_fixtures.py): every dtype saved by safetensors.torch, a
tiny BertForPreTraining saved by transformers, and HF's named_parameters() lists.
"""

import json
import struct

import numpy as np
import pytest

from numpy_bert.config import BertConfig
from numpy_bert.weights import (ARCHITECTURES, bf16_to_float32, expected_shapes, float32_to_bf16, load_npz,
                                load_safetensors, load_state_dict, read_safetensors_header,
                                save_npz, save_safetensors, save_state_dict)
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
    x = np.arange(5, dtype=">f4") * 1.5
    save_safetensors({"x": x}, tmp_path / "x.safetensors")
    got = load_safetensors(tmp_path / "x.safetensors")["x"]
    np.testing.assert_array_equal(got, x)
    raw = (tmp_path / "x.safetensors").read_bytes()
    assert raw.endswith(np.arange(5, dtype="<f4").__mul__(1.5).tobytes())


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

def write_raw(path, header, buffer=b"", length=None):
    """A safetensors file with a hand-made header (dict or raw bytes) and buffer."""
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body) if length is None else length) + body + buffer)
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
