"""The forward pass of BertModel / BertForPreTraining against committed HF fixtures.

Fixtures in tests/fixtures/model/ are written by tests/reference/make_model_fixtures.py
with transformers (eager attention, dropout off). Outputs are compared on non-padded
positions: float64 max abs diff <= 1e-10, float32 <= 1e-5.
"""

import json

import numpy as np
import pytest

from numpy_bert import BertConfig, weights
from numpy_bert.model import BertForPreTraining, BertModel

from .conftest import FIXTURES

MODEL_FIXTURES = FIXTURES / "model"
CASES = ["gelu", "gelu_new"]
DTYPES = {"f64": np.float64, "f32": np.float32}
TOL = {"f64": 1e-10, "f32": 1e-5}


def load_case(case):
    meta = json.loads((MODEL_FIXTURES / f"{case}.json").read_text())
    data = np.load(MODEL_FIXTURES / f"{case}.npz", allow_pickle=False)
    return BertConfig(**meta["config"]), {k: data[k] for k in data.files}, meta


def model_from_case(case, dtype, cls=BertForPreTraining):
    """A model holding the fixture's weights (float64 state dict cast to ``dtype``)."""
    config, data, _ = load_case(case)
    state = {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}
    model = cls(config, dtype=dtype)
    model.params = weights.load_state_dict(state, config, architecture=cls.__name__, dtype=dtype)
    return model, data


def real_rows(mask):
    """Boolean (B, T) mask of non-padded positions."""
    return mask.astype(bool)


def compare(pairs, tol):
    """pairs: name -> (ours, reference). Asserts every max abs diff <= tol, naming the worst."""
    diffs = {}
    for name, (ours, ref) in pairs.items():
        assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != reference {ref.shape}"
        assert np.all(np.isfinite(ours)), f"{name}: non-finite values"
        diffs[name] = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= tol, (f"worst tensor {worst}: max abs diff {diffs[worst]:.3e} > {tol:.0e}; "
                                 f"all: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    return diffs


def forward_pairs(out, data, prefix, with_heads=True):
    real = real_rows(data["attention_mask"])                      # (B, T)
    pairs = {
        "last_hidden_state": (out["last_hidden_state"][real], data[f"{prefix}/last_hidden_state"][real]),
        "pooler_output": (out["pooler_output"], data[f"{prefix}/pooler_output"]),
    }
    for i, h in enumerate(out["hidden_states"]):
        pairs[f"hidden_states[{i}]"] = (h[real], data[f"{prefix}/hidden_states/{i}"][real])
    for i, a in enumerate(out["attentions"]):
        # (B, NH, T, T): query rows of real tokens; padded keys must get probability 0 in both
        ours, ref = a.transpose(0, 2, 1, 3)[real], data[f"{prefix}/attentions/{i}"].transpose(0, 2, 1, 3)[real]
        pairs[f"attentions[{i}]"] = (ours, ref)                   # (N_real, NH, T)
    if with_heads:
        pairs["prediction_logits"] = (out["prediction_logits"][real], data[f"{prefix}/prediction_logits"][real])
        pairs["seq_relationship_logits"] = (out["seq_relationship_logits"], data[f"{prefix}/seq_relationship_logits"])
    return pairs


@pytest.mark.parametrize("prefix", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_pretraining_forward_matches_transformers(case, prefix):
    model, data = model_from_case(case, DTYPES[prefix])
    out = model(data["input_ids"], data["token_type_ids"], data["attention_mask"],
                output_hidden_states=True, output_attentions=True)
    L = model.config.num_hidden_layers
    assert len(out["hidden_states"]) == L + 1 and len(out["attentions"]) == L
    for name in ("prediction_logits", "last_hidden_state", "pooler_output"):
        assert out[name].dtype == DTYPES[prefix], name
    compare(forward_pairs(out, data, prefix), TOL[prefix])
    # padded keys get exactly zero attention probability
    pad = data["attention_mask"] == 0                              # (B, T)
    for a in out["attentions"]:
        assert np.all(a[np.broadcast_to(pad[:, None, None, :], a.shape)] == 0)


@pytest.mark.parametrize("case", CASES)
def test_bert_model_forward_matches_transformers(case):
    """BertModel: the same encoder under names without "bert."; the heads are dropped."""
    model, data = model_from_case(case, np.float64, cls=BertModel)
    assert all(not k.startswith(("bert.", "cls.")) for k in model.params)
    out = model(data["input_ids"], data["token_type_ids"], data["attention_mask"],
                output_hidden_states=True, output_attentions=True)
    assert set(out) == {"last_hidden_state", "pooler_output", "hidden_states", "attentions"}
    compare(forward_pairs(out, data, "f64", with_heads=False), TOL["f64"])


def test_defaults_mean_one_segment_and_no_padding():
    model, data = model_from_case("gelu", np.float64)
    ids = data["input_ids"][:1]                                   # row 0 has no padding
    a = model(ids)
    b = model(ids, np.zeros_like(ids), np.ones_like(ids))
    for k in ("prediction_logits", "seq_relationship_logits", "last_hidden_state"):
        np.testing.assert_array_equal(a[k], b[k])
    assert "hidden_states" not in a and "attentions" not in a


def test_padding_does_not_change_real_positions():
    """A sequence alone and the same sequence padded to a longer batch agree where real."""
    model, data = model_from_case("gelu_new", np.float64)
    ids = data["input_ids"][1:2, :5]                              # row 1: 5 real tokens
    alone = model(ids)["last_hidden_state"]                       # (1, 5, H)
    padded = model(data["input_ids"][1:2], attention_mask=data["attention_mask"][1:2])["last_hidden_state"]
    np.testing.assert_allclose(padded[:, :5], alone, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- init, modes

def test_init_is_hf_style_and_seeded():
    config = BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=37, max_position_embeddings=16, initializer_range=0.05)
    m = BertForPreTraining(config, seed=3, dtype=np.float64)
    assert list(m.params) == list(weights.expected_shapes(config, "BertForPreTraining"))
    assert "cls.predictions.decoder.weight" not in m.params       # tied, not repeated
    for name, p in m.params.items():
        assert p.dtype == np.float64
        if name.endswith("LayerNorm.weight"):
            assert np.all(p == 1), name
        elif name.endswith("bias"):
            assert np.all(p == 0), name
        else:
            assert abs(p.std() - 0.05) < 0.01, (name, p.std())
    assert np.all(m.params["bert.embeddings.word_embeddings.weight"][config.pad_token_id] == 0)
    same = BertForPreTraining(config, seed=3, dtype=np.float64)
    other = BertForPreTraining(config, seed=4, dtype=np.float64)
    w = "bert.encoder.layer.1.intermediate.dense.weight"
    np.testing.assert_array_equal(m.params[w], same.params[w])
    assert not np.array_equal(m.params[w], other.params[w])
    m32 = BertModel(config, seed=3)
    assert all(p.dtype == np.float32 for p in m32.params.values())
    assert "embeddings.word_embeddings.weight" in m32.params and "pooler.dense.weight" in m32.params
    with pytest.raises(TypeError, match="float32 or np.float64"):
        BertModel(config, dtype=np.int32)
    with pytest.raises(TypeError, match="BertConfig"):
        BertModel({"vocab_size": 99})


def test_train_mode_applies_dropout_from_the_models_generator():
    model, data = model_from_case("gelu", np.float64)
    model.config.hidden_dropout_prob = 0.1
    model.config.attention_probs_dropout_prob = 0.1
    inputs = (data["input_ids"], data["token_type_ids"], data["attention_mask"])
    assert model.training is False
    ref = model(*inputs)["last_hidden_state"]
    assert model.train() is model and model.training
    model.rng = np.random.default_rng(7)
    a = model(*inputs)["last_hidden_state"]
    b = model(*inputs)["last_hidden_state"]
    model.rng = np.random.default_rng(7)
    a_again = model(*inputs)["last_hidden_state"]
    assert not np.allclose(a, ref) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, a_again)
    model.eval()
    np.testing.assert_array_equal(model(*inputs)["last_hidden_state"], ref)


# ----------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def small():
    model, data = model_from_case("gelu", np.float32)
    return model, data


def test_bad_input_ids(small):
    model, data = small
    ids = data["input_ids"]
    with pytest.raises(TypeError, match="integers"):
        model(ids.astype(np.float64))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(np.where(ids == ids[0, 1], 99, ids))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(-ids)
    with pytest.raises(ValueError, match="2-D"):
        model(ids[0])
    with pytest.raises(ValueError, match="2-D"):
        model(np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(ValueError, match="max_position_embeddings=16"):
        model(np.ones((1, 17), dtype=np.int64))
    model(np.ones((1, 16), dtype=np.int64))                       # exactly the maximum is fine


def test_bad_token_types_and_mask(small):
    model, data = small
    ids, types, mask = data["input_ids"], data["token_type_ids"], data["attention_mask"]
    with pytest.raises(ValueError, match="token_type_ids has shape"):
        model(ids, types[:, :5])
    with pytest.raises(ValueError, match="type_vocab_size=2"):
        model(ids, types * 2)
    with pytest.raises(TypeError, match="token_type_ids must hold integers"):
        model(ids, types.astype(np.float32))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(ids, types, mask[:2])
    with pytest.raises(ValueError, match="only 0"):
        model(ids, types, mask * 2)
    # a boolean or float 0/1 mask is the same mask
    out_int = model(ids, types, mask)["last_hidden_state"]
    np.testing.assert_array_equal(model(ids, types, mask.astype(bool))["last_hidden_state"], out_int)
    np.testing.assert_array_equal(model(ids, types, mask.astype(np.float32))["last_hidden_state"], out_int)


# ----------------------------------------------------------------------------- save / load

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_pretrained_round_trip_is_bit_exact(tmp_path, dtype):
    model, data = model_from_case("gelu_new", dtype)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    again = BertForPreTraining.from_pretrained(tmp_path, dtype=dtype)
    assert again.config == model.config
    assert list(again.params) == list(model.params)
    for name, p in model.params.items():
        assert again.params[name].dtype == dtype, name
        np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    inputs = (data["input_ids"], data["token_type_ids"], data["attention_mask"])
    np.testing.assert_array_equal(again(*inputs)["prediction_logits"], model(*inputs)["prediction_logits"])
    # the encoder alone loads from a pre-training checkpoint (heads ignored)
    encoder = BertModel.from_pretrained(tmp_path, dtype=dtype)
    np.testing.assert_array_equal(encoder(*inputs)["last_hidden_state"], model(*inputs)["last_hidden_state"])
    # and a BertModel saves and loads as BertModel
    encoder.save_pretrained(tmp_path / "encoder")
    assert json.loads((tmp_path / "encoder" / "config.json").read_text())["architectures"] == ["BertModel"]
    again_encoder = BertModel.from_pretrained(tmp_path / "encoder", dtype=dtype)
    for name, p in encoder.params.items():
        np.testing.assert_array_equal(again_encoder.params[name], p, err_msg=name)


def test_from_pretrained_missing_dir(tmp_path):
    with pytest.raises(OSError):
        BertForPreTraining.from_pretrained(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- real checkpoint

def _minilm_fixture():
    meta = json.loads((MODEL_FIXTURES / "minilm.json").read_text())
    data = np.load(MODEL_FIXTURES / "minilm.npz", allow_pickle=False)
    return meta, {k: data[k] for k in data.files}


def _tokenizer_available():
    try:
        from numpy_bert import tokenization  # noqa: F401
    except ImportError:
        return False
    return True


def mean_pool_normalize(hidden, mask):
    """sentence-transformers' recipe: mean over real tokens, then L2-normalise."""
    mask = mask.astype(hidden.dtype)[:, :, None]                  # (B, T, 1)
    mean = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)  # (B, H)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def test_minilm_checkpoint_matches_transformers(minilm_path):
    meta, data = _minilm_fixture()
    ids, types, mask = data["input_ids"], data["token_type_ids"], data["attention_mask"]
    if _tokenizer_available():   # our own tokenizer must give the ids transformers gave
        from numpy_bert import BertTokenizer
        tok = BertTokenizer.from_pretrained(minilm_path)
        enc = tok(meta["sentences"], padding=True, return_tensors="np")
        np.testing.assert_array_equal(enc["input_ids"], ids)
        np.testing.assert_array_equal(enc["attention_mask"], mask)
        ids, types, mask = enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]
    model = BertModel.from_pretrained(minilm_path, dtype=np.float32)
    assert model.config.num_hidden_layers == 6
    hidden = model(ids, types, mask)["last_hidden_state"]         # (B, T, 384)
    compare({"last_hidden_state": (hidden[mask.astype(bool)], data["last_hidden_state_real"])}, 1e-4)
    emb = mean_pool_normalize(hidden, mask)                        # (B, 384)
    compare({"sentence_embedding": (emb, data["sentence_embedding"])}, 1e-5)
    # the embeddings are unit vectors that tell the sentences apart
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    sims = emb @ emb.T                                            # (B, B)
    assert np.all(sims[~np.eye(len(sims), dtype=bool)] < 0.99)


def test_minilm_has_no_pretraining_heads(minilm_path):
    """A BertModel checkpoint into BertForPreTraining: the heads are initialised, as
    transformers does, and the warning and loading_info name them."""
    with pytest.warns(UserWarning, match=r"newly initialized: \['cls.predictions.bias'"):
        model = BertForPreTraining.from_pretrained(minilm_path)
    heads = [name for name in model.params if name.startswith("cls.")]
    assert model.loading_info == {"missing_keys": heads, "unexpected_keys": [], "mismatched_keys": []}
    encoder = BertModel.from_pretrained(minilm_path)
    for name, p in encoder.params.items():
        np.testing.assert_array_equal(model.params["bert." + name], p)


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# resolve_layers: a namespace of one's own must have every layer function, and says which it lacks
def test_a_namespace_of_layers_must_have_every_function():
    import types

    from numpy_bert import layers as reference
    from numpy_bert.model import resolve_layers
    full = types.SimpleNamespace(**{name: getattr(reference, name) for name in reference.__all__})
    assert resolve_layers(full) is full
    partial = types.SimpleNamespace(**{name: getattr(reference, name) for name in reference.__all__[5:]})
    with pytest.raises(TypeError, match=f"lacks {', '.join(reference.__all__[:4])} ...; give it every "
                                        "function of numpy_bert.layers"):
        resolve_layers(partial)
