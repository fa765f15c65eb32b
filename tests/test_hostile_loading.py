"""Loading what a careless user or a damaged disk hands over: each case gives a clear error
(or the documented warning) naming what is wrong, and the CLI one line, no traceback.

- NaN or infinity in a weight: refused naming the tensor; ``allow_nonfinite=True`` /
  ``--allow-nonfinite`` loads it with a warning; pipelines never return a NaN score.
- ``--json`` output is strict JSON (no bare NaN).
- config.json without a field that fixes a tensor's shape: refused naming the field.
- vocab.txt longer than config.json's vocab_size: refused; shorter: a warning.
- tensor names that read as paths: refused by every writer.
- a directory where a file is expected, the user's --vocab named, --time-budget and
  --threads out of range, binary input to train-vocab.

The model is a copy of the shipped tiny one (weights/numpy-bert-tiny: hidden 128, 2 layers),
damaged one tensor at a time.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import numpy_bert
from numpy_bert import cli, pipeline
from numpy_bert.config import DEFAULTS, REQUIRED_FIELDS, BertConfig
from numpy_bert.optim import AdamW
from numpy_bert.tokenization import BertTokenizer
from numpy_bert.weights import load_safetensors, save_npz, save_safetensors, save_state_dict

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "weights" / "numpy-bert-tiny"
WEIGHT = "bert.encoder.layer.1.output.dense.weight"   # (H, I) = (128, 512)


def copy_tiny(directory, change=None, dtype=None):
    """A copy of the tiny model; ``change(tensors)`` edits its tensors (float32, or ``dtype``)."""
    directory = Path(directory)
    shutil.copytree(TINY, directory)
    if change is not None:
        tensors = {k: np.array(v, dtype=dtype or v.dtype) for k, v in
                   load_safetensors(directory / "model.safetensors").items()}
        change(tensors)
        save_safetensors(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    return directory


def set_value(name, index, value):
    def change(tensors):
        tensors[name][index] = value
    return change


def strict_json(text):
    """json.loads that refuses NaN, Infinity and -Infinity, as strict parsers do."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def run_cli(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ---------------------------------------------------------------------------------------- NaN and inf weights


@pytest.mark.parametrize("value, counts", [(np.nan, "1 NaN, 0 infinite"), (np.inf, "0 NaN, 1 infinite"),
                                           (-np.inf, "0 NaN, 1 infinite")])
def test_a_nonfinite_weight_is_refused_naming_the_tensor(tmp_path, value, counts):
    model_dir = copy_tiny(tmp_path / "m", set_value(WEIGHT, (3, 5), value))
    with pytest.raises(ValueError, match=rf"1 tensor\(s\) hold NaN or infinite values: {WEIGHT} \({counts} of "
                                         rf"65536 values\).*allow_nonfinite=True \(numpy-bert: --allow-nonfinite\)"):
        numpy_bert.BertForMaskedLM.from_pretrained(model_dir)
    with pytest.raises(ValueError, match=WEIGHT):
        pipeline("fill-mask", model=model_dir)


def test_a_float64_weight_beyond_float32_is_infinite_once_loaded(tmp_path):
    model_dir = copy_tiny(tmp_path / "m", set_value(WEIGHT, (0, 0), 1e300), dtype=np.float64)
    with pytest.raises(ValueError, match=rf"{WEIGHT} \(0 NaN, 1 infinite"):
        numpy_bert.BertForMaskedLM.from_pretrained(model_dir)               # float32 by default
    model = numpy_bert.BertForMaskedLM.from_pretrained(model_dir, dtype=np.float64)
    assert model.params[WEIGHT][0, 0] == 1e300


def test_allow_nonfinite_loads_with_a_warning_and_the_pipeline_refuses_nan_scores(tmp_path):
    model_dir = copy_tiny(tmp_path / "m", set_value(WEIGHT, (3, 5), np.nan))
    with pytest.warns(UserWarning, match=rf"allow_nonfinite=True although 1 tensor\(s\) hold NaN .*{WEIGHT}"):
        model = numpy_bert.BertForMaskedLM.from_pretrained(model_dir, allow_nonfinite=True)
    assert np.isnan(model.params[WEIGHT][3, 5])
    with pytest.warns(UserWarning, match="allow_nonfinite"):
        unmasker = pipeline("fill-mask", model=model_dir, allow_nonfinite=True)
    with pytest.raises(ValueError, match=r"the model's prediction_logits hold \d+ NaN or infinite value\(s\) of "
                                         r"\d+, so no fill-mask result can be given"):
        unmasker("The [MASK] is here.")


def nan_everywhere(model):
    """NaN in the embeddings' LayerNorm: every output of the encoder is NaN."""
    prefix = model._prefix
    model.params[prefix + "embeddings.LayerNorm.weight"][0] = np.nan
    return model


@pytest.mark.filterwarnings("ignore:Some weights of:UserWarning")
@pytest.mark.parametrize("task, cls, call, output", [
    ("fill-mask", "BertForMaskedLM", lambda p: p("a [MASK] b"), "prediction_logits"),
    ("feature-extraction", "BertModel", lambda p: p("a b"), "last_hidden_state"),
    ("next-sentence", "BertForPreTraining", lambda p: p("a b", "c d"), "seq_relationship_logits"),
    ("text-classification", "BertForSequenceClassification", lambda p: p("a b"), "logits"),
    ("token-classification", "BertForTokenClassification", lambda p: p("a b"), "logits"),
    ("question-answering", "BertForQuestionAnswering", lambda p: p(question="a?", context="b c"), "start_logits"),
])
def test_no_pipeline_returns_a_nan_score(task, cls, call, output):
    model = nan_everywhere(getattr(numpy_bert, cls).from_pretrained(TINY))
    pipe = pipeline(task, model=model, tokenizer=BertTokenizer.from_pretrained(TINY))
    with pytest.raises(ValueError, match=rf"the model's {output} hold \d+ NaN or infinite value\(s\)"):
        call(pipe)


def test_cli_fill_mask_with_a_nan_weight_is_one_line_and_prints_no_score(tmp_path, capsys):
    model_dir = copy_tiny(tmp_path / "m", set_value(WEIGHT, (3, 5), np.nan))
    for extra in ([], ["--json"]):
        code, out, err = run_cli(["fill-mask", "The [MASK] is here.", "--model", str(model_dir), *extra], capsys)
        assert code == 1 and out == ""
        assert err.strip().splitlines() == [err.strip()]
        assert f"hold NaN or infinite values: {WEIGHT}" in err and "--allow-nonfinite" in err
    code, out, err = run_cli(["fill-mask", "The [MASK] is here.", "--model", str(model_dir), "--allow-nonfinite"],
                             capsys)
    assert code == 1 and "nan" not in out.lower()
    assert "error: the model's prediction_logits hold" in err


def test_allow_nonfinite_lets_a_nan_in_an_unused_tensor_be_inspected(tmp_path, capsys):
    """NaN in the pooler only: embed loads it but never reads it, next-sentence reads it, and
    fill-mask (BertForMaskedLM, which has no pooler) does not even load it."""
    pooler = "bert.pooler.dense.weight"
    model_dir = copy_tiny(tmp_path / "m", set_value(pooler, (1, 2), np.nan))
    code, out, err = run_cli(["embed", "A text.", "--model", str(model_dir)], capsys)
    assert code == 1 and f"{pooler} (1 NaN, 0 infinite of 16384 values)" in err
    code, out, err = run_cli(["embed", "A text.", "--model", str(model_dir), "--json", "--allow-nonfinite"], capsys)
    assert code == 0, err
    assert "warning:" in err and pooler in err
    assert np.isfinite(strict_json(out)).all()
    code, out, err = run_cli(["nsp", "The sky is blue.", "It rains.", "--model", str(model_dir), "--json",
                              "--allow-nonfinite"], capsys)
    assert code == 1 and out == "" and "the model's seq_relationship_logits hold" in err
    code, out, err = run_cli(["fill-mask", "The [MASK] is here.", "--model", str(model_dir), "--json"], capsys)
    assert code == 0 and len(strict_json(out)) == 5


# ---------------------------------------------------------------------------------------- strict JSON


@pytest.mark.parametrize("argv", [["fill-mask", "The [MASK] is here.", "--json"], ["embed", "A text.", "--json"],
                                  ["nsp", "The sky is blue.", "It rains.", "--json"],
                                  ["tokenize", "A text.", "--json"]])
def test_json_output_is_strict_json(argv, capsys):
    code, out, err = run_cli([*argv, "--model", str(TINY)], capsys)
    assert code == 0, err
    strict_json(out)


def test_json_refuses_what_strict_json_cannot_hold():
    assert strict_json(cli._json({"score": 0.5, "word": "é"})) == {"score": 0.5, "word": "é"}
    for value in (float("nan"), float("inf"), [1.0, -float("inf")]):
        with pytest.raises(ValueError, match="NaN or infinite numbers, which JSON cannot represent"):
            cli._json(value)


# ---------------------------------------------------------------------------------------- config.json


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_a_config_without_a_shape_field_is_refused_naming_it(tmp_path, field, capsys):
    model_dir = copy_tiny(tmp_path / "m")
    config = json.loads((model_dir / "config.json").read_text())
    del config[field]
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"config.json: config file lacks {field}, which fix the shapes"):
        BertConfig.from_pretrained(model_dir)
    code, out, err = run_cli(["fill-mask", "a [MASK]", "--model", str(model_dir)], capsys)
    assert code == 1 and f"config file lacks {field}," in err


@pytest.mark.parametrize("field", sorted(set(DEFAULTS) - set(REQUIRED_FIELDS)))
def test_the_other_fields_default_to_bert_base_as_in_transformers(tmp_path, field):
    model_dir = copy_tiny(tmp_path / "m")
    config = json.loads((model_dir / "config.json").read_text())
    del config[field]
    (model_dir / "config.json").write_text(json.dumps(config))
    assert getattr(BertConfig.from_pretrained(model_dir), field) == DEFAULTS[field]


# ---------------------------------------------------------------------------------------- vocab.txt vs vocab_size


def test_a_vocab_longer_than_the_embedding_matrix_is_refused(tmp_path, capsys):
    model_dir = copy_tiny(tmp_path / "m")
    with open(model_dir / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("zzextra1\nzzextra2\nzzextra3\n")
    with pytest.raises(ValueError, match=r"vocab.txt has 8003 tokens but the model has vocab_size=8000 "
                                         r"\(config.json\): ids 8000 to 8002 would have no row"):
        pipeline("fill-mask", model=model_dir)
    code, out, err = run_cli(["fill-mask", "a [MASK]", "--model", str(model_dir)], capsys)
    assert code == 1 and "has 8003 tokens but the model has vocab_size=8000" in err


def test_a_vocab_shorter_than_the_embedding_matrix_is_a_warning(tmp_path):
    model_dir = copy_tiny(tmp_path / "m")
    lines = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (model_dir / "vocab.txt").write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"has 7997 tokens but the model has vocab_size=8000.*the last 3 rows"):
        unmasker = pipeline("fill-mask", model=model_dir)
    assert len(unmasker("a [MASK] b")) == 5


# ---------------------------------------------------------------------------------------- tensor names


@pytest.mark.parametrize("name", ["a/b", "../x", "/etc/passwd", "a\\b", "a..b", "x\n", "x\x00"])
def test_the_writers_refuse_names_that_read_as_paths(tmp_path, name):
    tensors = {name: np.zeros(2, np.float32)}
    for write, file in ((save_safetensors, "t.safetensors"), (save_npz, "t.npz"), (save_state_dict, "t.npz"),
                        (save_state_dict, "m.safetensors")):
        with pytest.raises(ValueError, match=r"names that read as paths are refused"):
            write(tensors, tmp_path / file)
        assert not (tmp_path / file).exists()


def test_optimizer_files_of_older_runs_with_slashes_still_load():
    params = {"w": np.ones((2, 3), np.float32)}
    optimizer = AdamW(params)
    optimizer.step({"w": np.full((2, 3), 0.5, np.float32)}, lr=0.1)
    state = optimizer.state_dict()
    assert set(state) == {"step", "m.w", "v.w"}
    old = {k.replace(".", "/", 1) if k != "step" else k: v for k, v in state.items()}   # "m/w"
    restored = AdamW({"w": np.ones((2, 3), np.float32)})
    restored.load_state_dict(old)
    np.testing.assert_array_equal(restored.m["w"], optimizer.m["w"])
    np.testing.assert_array_equal(restored.v["w"], optimizer.v["w"])


# ---------------------------------------------------------------------------------------- messages


@pytest.fixture
def a_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    return str(tmp_path / "adir")


@pytest.mark.parametrize("argv, message", [
    (["pretrain", "--corpus", "{d}", "--out", "{o}", "--preset", "micro"],
     "corpus file {d} is a directory, not a file"),
    (["pretrain", "--vocab", "{d}", "--out", "{o}", "--preset", "micro"],
     "vocab file '{d}' is a directory, not a file"),
    (["tokenize", "hi", "--vocab", "{d}"], "vocab file '{d}' is a directory, not a file"),
    (["train-vocab", "{d}", "--out", "{o}/v.txt"], "training file '{d}' is a directory, not a file"),
    (["qa", "--question", "a?", "--context-file", "{d}", "--model", str(TINY)], "--context-file {d} is a directory"),
    (["finetune", "--model", str(TINY), "--task", "text-classification", "--train", "{d}", "--eval", "{d}",
      "--out", "{o}"], "data file {d} is a directory, not a file"),
    (["fill-mask", "a [MASK]", "--model", str(TINY / "config.json")], "config.json is a file, not a model directory"),
])
def test_a_directory_where_a_file_is_expected_is_called_a_directory(tmp_path, a_directory, argv, message, capsys):
    out = str(tmp_path / "out")
    code, _, err = run_cli([a.format(d=a_directory, o=out) for a in argv], capsys)
    assert code == 1
    assert message.format(d=a_directory) in err, err
    assert not Path(out).exists()   # a failed new run leaves no directory behind


def test_a_model_file_that_is_a_directory_is_called_one(tmp_path, capsys):
    model_dir = copy_tiny(tmp_path / "m")
    (model_dir / "model.safetensors").unlink()
    (model_dir / "model.safetensors").mkdir()
    code, _, err = run_cli(["fill-mask", "a [MASK]", "--model", str(model_dir)], capsys)
    assert code == 1 and "its model.safetensors is a directory, not a file" in err


def test_errors_about_the_users_vocab_name_that_file_not_the_copy(tmp_path, capsys):
    vocab = tmp_path / "my_vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n", encoding="utf-8")   # no [MASK]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b.\n\nc d.\n\ne f.\n\ng h.\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_cli(["pretrain", "--vocab", str(vocab), "--corpus", str(corpus), "--out", str(out),
                            "--preset", "micro"], capsys)
    assert code == 1
    assert f"special token [MASK] is not in the vocab {vocab}" in err
    assert str(out) not in err
    vocab.write_bytes(b"[PAD]\n[UNK]\n\xff\n")
    code, _, err = run_cli(["pretrain", "--vocab", str(vocab), "--corpus", str(corpus), "--out", str(out),
                            "--preset", "micro"], capsys)
    assert code == 1 and f"{vocab}, line 3: not valid UTF-8" in err


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
@pytest.mark.parametrize("option, value, message", [
    ("--time-budget", "-1", "--time-budget must be a number of minutes >= 0 (0 = no budget), got -1.0"),
    ("--time-budget", "nan", "--time-budget must be a number of minutes >= 0 (0 = no budget), got nan"),
    ("--time-budget", "inf", "--time-budget must be a number of minutes >= 0 (0 = no budget), got inf"),
    ("--threads", "-1", "--threads must be between 0 (leave NumPy's setting) and"),
    ("--threads", "100000", "--threads must be between 0 (leave NumPy's setting) and"),
])
def test_time_budget_and_threads_are_range_checked(tmp_path, command, option, value, message, capsys):
    out = tmp_path / "out"
    argv = {"pretrain": ["pretrain", "--preset", "micro", "--corpus", str(tmp_path / "none.txt")],
            "finetune": ["finetune", "--model", str(TINY), "--task", "text-classification",
                         "--train", str(tmp_path / "none.csv"), "--eval", str(tmp_path / "none.csv")]}[command]
    code, _, err = run_cli([*argv, "--out", str(out), option, value], capsys)
    assert code == 1 and message in err, err
    assert not out.exists()


def test_train_vocab_refuses_binary_input_as_pretrain_does(tmp_path, capsys):
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli(["train-vocab", str(binary), "--out", str(tmp_path / "v.txt")], capsys)
    assert code == 1 and f"training file '{binary}' is not UTF-8 text" in err
    assert not (tmp_path / "v.txt").exists()
    code, _, err = run_cli(["pretrain", "--corpus", str(binary), "--out", str(tmp_path / "o"), "--preset", "micro"],
                           capsys)
    assert code == 1 and "is not UTF-8 text" in err
