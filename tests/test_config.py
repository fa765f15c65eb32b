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
    assert config.classifier_dropout is None and "classifier_dropout" not in config.extra
    assert config.num_labels == 2 and config.problem_type is None   # transformers' defaults
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
    bad.write_text(json.dumps({**BertConfig().to_dict(), "hidden_size": 100, "num_attention_heads": 12}))
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


# ---------------------------------------------------------------- the heads' fields

def test_label_fields_as_transformers_derives_them():
    config = BertConfig(num_labels=3)
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert config.label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    named = BertConfig(id2label={"0": "negative", "1": "neutral", "2": "positive"})  # JSON keys
    assert named.num_labels == 3 and named.id2label[2] == "positive"
    assert named.label2id == {"negative": 0, "neutral": 1, "positive": 2}
    config.num_labels = 4                                       # HF's setter: fresh names
    assert config.id2label[3] == "LABEL_3" and config.label2id["LABEL_3"] == 3
    assert BertConfig().num_labels == 2 and BertConfig().classifier_dropout is None


def test_label_maps_round_trip_with_string_keys_in_json(tmp_path):
    config = BertConfig(vocab_size=99, hidden_size=30, num_attention_heads=3,
                        id2label={0: "neg", 1: "pos", 2: "mixed"}, problem_type="single_label_classification",
                        classifier_dropout=0.25)
    config.save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["id2label"] == {"0": "neg", "1": "pos", "2": "mixed"}
    assert raw["label2id"] == {"neg": 0, "pos": 1, "mixed": 2}
    assert raw["problem_type"] == "single_label_classification" and raw["classifier_dropout"] == 0.25
    again = BertConfig.from_pretrained(tmp_path)
    assert again == config and again.id2label == {0: "neg", 1: "pos", 2: "mixed"}
    # the default two labels and an unset problem_type are not written, as transformers does
    raw = BertConfig(vocab_size=99).to_dict()
    assert not {"id2label", "label2id", "problem_type", "classifier_dropout"} & set(raw)


def test_from_pretrained_applies_changes_as_transformers(tmp_path):
    BertConfig(vocab_size=99, id2label={0: "a", 1: "b", 2: "c"}).save_pretrained(tmp_path)
    assert BertConfig.from_pretrained(tmp_path).num_labels == 3
    four = BertConfig.from_pretrained(tmp_path, num_labels=4)
    assert four.id2label == {i: f"LABEL_{i}" for i in range(4)}
    named = BertConfig.from_pretrained(tmp_path, id2label={0: "x", 1: "y"}, problem_type="regression")
    assert named.label2id == {"x": 0, "y": 1} and named.problem_type == "regression"
    assert named.vocab_size == 99
    with pytest.raises(TypeError, match="unknown config field.*num_label"):
        BertConfig.from_pretrained(tmp_path, num_label=3)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"num_labels": 0}, ValueError, "num_labels must be a positive integer"),
    ({"num_labels": 3, "id2label": {0: "a", 1: "b"}}, ValueError, "num_labels=3 but id2label has 2"),
    ({"id2label": {0: "a", 2: "b"}}, ValueError, r"keys must be 0 \.\. 1"),
    ({"id2label": {"x": "a"}}, TypeError, "keys must be label ids"),
    ({"id2label": {0: 1}}, TypeError, "must be a label name"),
    ({"id2label": {0: "a"}, "label2id": {"a": "zero"}}, TypeError, "label2id must map label names to integer ids"),
    ({"problem_type": "ranking"}, ValueError, "problem_type='ranking' is not one of regression"),
    ({"num_labels": 1, "problem_type": "single_label_classification"}, ValueError, "needs num_labels > 1"),
    ({"classifier_dropout": 1.0}, ValueError, "classifier_dropout is a dropout probability"),
    ({"classifier_dropout": "0.1"}, TypeError, "classifier_dropout must be a number or None"),
])
def test_bad_head_fields_name_the_field(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        BertConfig(**kwargs)
