"""Tests of numpy_bert.config.BertConfig: HF config.json round trips and validation."""

import json

import pytest

from numpy_bert.config import DEFAULTS, BertConfig
from tests.conftest import FIXTURES

# config.json written by transformers 5.24 save_pretrained (tests/reference/make_weights_fixtures.py)
HF_CONFIG = FIXTURES / "weights" / "hf_tiny" / "config.json"


def test_defaults_are_bert_base():
    config = BertConfig()
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers,
            config.num_attention_heads, config.intermediate_size) == (30522, 768, 12, 12, 3072)
    assert config.head_size == 64
    assert config.hidden_act == "gelu" and config.layer_norm_eps == 1e-12
    assert config.pad_token_id == 0 and config.type_vocab_size == 2
    assert config.max_position_embeddings == 512 and config.initializer_range == 0.02


def test_odd_sizes_and_head_size():
    config = BertConfig(vocab_size=99, hidden_size=48, num_attention_heads=3, intermediate_size=37)
    assert config.head_size == 16


def test_reads_transformers_config_json():
    config = BertConfig.from_pretrained(HF_CONFIG.parent)
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (99, 48, 2)
    assert (config.num_attention_heads, config.intermediate_size) == (3, 37)
    assert (config.max_position_embeddings, config.type_vocab_size) == (40, 3)
    assert config.architectures == ["BertForPreTraining"]
    # Fields numpy_bert does not use are kept...
    assert config.extra["transformers_version"] == "5.24.0"
    assert config.extra["classifier_dropout"] is None
    assert config.extra["tie_word_embeddings"] is True


def test_round_trip_keeps_every_field(tmp_path):
    original = json.loads(HF_CONFIG.read_text())
    config = BertConfig.from_json_file(HF_CONFIG)
    config.to_json_file(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text()) == original  # ... and written back
    assert BertConfig.from_json_file(tmp_path / "config.json") == config


def test_real_minilm_config_round_trip(minilm_path, tmp_path):
    original = json.loads((minilm_path / "config.json").read_text())
    config = BertConfig.from_pretrained(minilm_path)
    assert config.hidden_size == 384 and config.num_hidden_layers == 6 and config.head_size == 32
    assert config.architectures == ["BertModel"]
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == original


def test_fresh_config_writes_model_type_and_architectures(tmp_path):
    config = BertConfig(vocab_size=99, hidden_size=48, num_attention_heads=3)
    d = config.to_dict()
    assert d["model_type"] == "bert" and d["architectures"] == ["BertForPreTraining"]
    assert set(DEFAULTS) <= set(d)
    config.architectures = ["BertModel"]
    config.to_json_file(tmp_path / "c.json")
    again = BertConfig.from_json_file(tmp_path / "c.json")
    assert again.architectures == ["BertModel"] and again == config
    assert list(tmp_path.iterdir()) == [tmp_path / "c.json"]  # no temporary file left behind


def test_from_dict_to_dict_round_trip():
    d = {"vocab_size": 7, "hidden_size": 6, "num_attention_heads": 2, "num_hidden_layers": 1,
         "intermediate_size": 5, "hidden_act": "relu", "custom_field": [1, 2]}
    config = BertConfig.from_dict(d)
    assert config.extra == {"custom_field": [1, 2]}
    out = config.to_dict()
    assert {k: out[k] for k in d} == d


@pytest.mark.parametrize("changes, error, pattern", [
    ({"hidden_size": 50, "num_attention_heads": 3}, ValueError, "divisible by num_attention_heads"),
    ({"num_hidden_layers": 0}, ValueError, "num_hidden_layers must be positive"),
    ({"vocab_size": -5}, ValueError, "vocab_size must be positive"),
    ({"intermediate_size": 37.0}, TypeError, "intermediate_size must be an integer"),
    ({"hidden_size": "768"}, TypeError, "hidden_size must be an integer"),
    ({"num_attention_heads": True}, TypeError, "num_attention_heads must be an integer"),
    ({"hidden_act": "swish"}, ValueError, "hidden_act='swish' is not supported; use one of gelu"),
    ({"hidden_act": None}, TypeError, "hidden_act must be a string"),
    ({"hidden_dropout_prob": 1.0}, ValueError, r"hidden_dropout_prob .* \[0, 1\)"),
    ({"attention_probs_dropout_prob": -0.1}, ValueError, "attention_probs_dropout_prob"),
    ({"hidden_dropout_prob": "0.1"}, TypeError, "hidden_dropout_prob must be a number"),
    ({"layer_norm_eps": 0.0}, ValueError, "layer_norm_eps must be a positive"),
    ({"initializer_range": float("nan")}, ValueError, "initializer_range"),
    ({"pad_token_id": 30522}, ValueError, "pad_token_id=30522"),
    ({"pad_token_id": 1.5}, TypeError, "pad_token_id"),
    ({"position_embedding_type": "relative_key"}, ValueError, "position_embedding_type"),
    ({"is_decoder": True}, ValueError, "is_decoder"),
    ({"tie_word_embeddings": False}, ValueError, "tie_word_embeddings"),
    ({"model_type": "roberta"}, ValueError, "model_type"),
    ({"architectures": "BertModel"}, TypeError, "architectures"),
])
def test_validation_names_the_field(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        BertConfig(**changes)


def test_accepted_variants():
    BertConfig(pad_token_id=None, hidden_dropout_prob=0, position_embedding_type="absolute",
               is_decoder=False)
    for act in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"):
        assert BertConfig(hidden_act=act).hidden_act == act


def test_validate_after_changing_attributes():
    config = BertConfig()
    config.num_attention_heads = 7
    with pytest.raises(ValueError, match="divisible"):
        config.validate()
    with pytest.raises(ValueError, match="divisible"):
        config.to_json_file("never-written.json")


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"hidden_size": 768,,}')
    with pytest.raises(ValueError, match=r"config.json: config file is not valid JSON.*line 1"):
        BertConfig.from_json_file(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json: config file must hold a JSON object"):
        BertConfig.from_pretrained(tmp_path)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        BertConfig.from_json_file(bad)
    bad.write_text('{"hidden_size": 100, "num_attention_heads": 12}')
    with pytest.raises(ValueError, match=r"config.json: BertConfig.hidden_size \(100\)"):
        BertConfig.from_json_file(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        BertConfig.from_pretrained(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        BertConfig.from_pretrained(tmp_path / "missing")
    with pytest.raises(TypeError, match="dict"):
        BertConfig.from_dict([("hidden_size", 768)])


def test_numpy_scalars_become_json_numbers(tmp_path):
    import numpy as np
    config = BertConfig(hidden_size=np.int64(96), num_attention_heads=np.int32(3),
                        layer_norm_eps=np.float32(1e-5))
    assert type(config.hidden_size) is int and type(config.layer_norm_eps) is float
    config.to_json_file(tmp_path / "config.json")
    assert BertConfig.from_json_file(tmp_path / "config.json").hidden_size == 96
