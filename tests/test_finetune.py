"""Tests of ``numpy-bert finetune`` runs: one short run per task on the shipped tiny model and
a synthetic dataset, resume bit-exactness, the time budget, the head-size check.

Each run takes a few seconds (tiny model: hidden 128, 2 layers; 48-64 short examples).
"""

import json
from pathlib import Path

import numpy as np
import pytest

import numpy_bert
from numpy_bert import cli
from numpy_bert.finetune import finetune, prepare_task_data, make_settings, read_examples
from numpy_bert.tokenization import BertTokenizer
from numpy_bert.train import WALL_CLOCK_FIELDS, read_metrics

# the new head's "Some weights ... newly initialized" warning is what a run should say; not a test failure
pytestmark = pytest.mark.filterwarnings("ignore:Some weights of:UserWarning")

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "weights" / "numpy-bert-tiny"


def has(name):
    try:
        getattr(numpy_bert, name)
        return True
    except AttributeError:
        return False


def tokenizer_has_word_ids():
    try:
        BertTokenizer.from_pretrained(TINY)(["a", "b"], is_split_into_words=True).word_ids()
        return True
    except (TypeError, AttributeError):
        return False


needs_cls = pytest.mark.skipif(not has("BertForSequenceClassification"),
                               reason="needs BertForSequenceClassification (branch heads)")
needs_tok = pytest.mark.skipif(not (has("BertForTokenClassification") and tokenizer_has_word_ids()),
                               reason="needs BertForTokenClassification and is_split_into_words (heads, tok)")
needs_qa = pytest.mark.skipif(not (has("BertForQuestionAnswering") and tokenizer_has_word_ids()),
                              reason="needs BertForQuestionAnswering and overflowing windows (heads, tok)")

POSITIVE = "good great fine happy nice lovely".split()
NEGATIVE = "bad awful sad poor ugly terrible".split()
FILLER = "the movie was a and it film story".split()


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sentiment_rows(n, seed, names=("negative", "positive")):
    """Filler words and one sentiment word: the label is which list it came from."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        y = int(rng.integers(2))
        words = [str(rng.choice(FILLER)) for _ in range(4)] + [str(rng.choice(POSITIVE if y else NEGATIVE))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": names[y]})
    return rows


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    d = tmp_path_factory.mktemp("sentiment")
    return write_jsonl(d / "train.jsonl", sentiment_rows(64, 1)), write_jsonl(d / "eval.jsonl", sentiment_rows(32, 2))


def run(out, files, task="text-classification", model=TINY, **kw):
    kw = {"epochs": 3, "batch_size": 8, "lr": 1e-3, "log_every": 2, "quiet": True, **kw}
    return finetune(str(model), str(files[0]), str(files[1]), out, task=task, **kw)


def without_wall_clock(records):
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK_FIELDS} for r in records]


def check_run_files(out, task_class):
    """metrics.jsonl has log and eval records; best/ is in HF layout and loads back."""
    for name in ("metrics.jsonl", "curves.png", "best/config.json", "best/model.safetensors", "best/vocab.txt",
                 "best/tokenizer_config.json", "checkpoint/optimizer.safetensors", "checkpoint/trainer_state.json"):
        assert (out / name).is_file(), name
    records = read_metrics(out / "metrics.jsonl")
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if any(k.startswith("eval_") for k in r)]
    assert train and evals
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["architectures"] == [task_class]
    model = getattr(numpy_bert, task_class).from_pretrained(out / "best")
    return train, evals, config, model


def check_pipeline(best, task, *args, **kwargs):
    """numpy_bert's pipeline loads best/ as it is and answers with its labels."""
    result = numpy_bert.pipeline(task, model=str(best))(*args, **kwargs)
    assert result
    return result


# ---------------------------------------------------------------------------------------- classification

@needs_cls
def test_classification_run_through_the_cli(tmp_path, sentiment):
    out = tmp_path / "run"
    code = cli.main(["finetune", "--model", str(TINY), "--task", "text-classification", "--train",
                     str(sentiment[0]), "--eval", str(sentiment[1]), "--out", str(out), "--epochs", "3",
                     "--batch-size", "8", "--lr", "1e-3", "--log-every", "2", "--quiet"])
    assert code == 0
    train, evals, config, model = check_run_files(out, "BertForSequenceClassification")
    assert len(evals) == 3  # one per epoch
    assert np.mean([r["loss"] for r in train[-4:]]) < np.mean([r["loss"] for r in train[:4]])
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    # best/ is the best eval's model: scoring it again gives that eval's figures
    best = max(evals, key=lambda r: r["eval_accuracy"])
    settings = make_settings("text-classification", batch_size=8)
    data = prepare_task_data("text-classification", sentiment[0], sentiment[1],
                             BertTokenizer.from_pretrained(out / "best"), config, settings)
    again = data.evaluate(model)
    assert again["eval_accuracy"] == best["eval_accuracy"]
    assert again["eval_loss"] == pytest.approx(best["eval_loss"], rel=1e-5)
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == state["total_steps"] == 24 and state["best_step"] == best["step"]
    assert check_pipeline(out / "best", "text-classification", "the film was lovely")[0]["label"] in ("negative",
                                                                                                    "positive")


@needs_cls
def test_interrupted_run_resumed_matches_the_straight_run(tmp_path, sentiment, monkeypatch):
    run(tmp_path / "straight", sentiment, save_every=4)
    cls = numpy_bert.BertForSequenceClassification
    original, calls = cls.loss_and_grads, {"n": 0}

    def crash_at_step_14(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt  # as if Ctrl-C hit in the middle of step 14
        return original(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(cls, "loss_and_grads", crash_at_step_14)
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / "parts", sentiment, save_every=4)
    assert json.loads((tmp_path / "parts" / "checkpoint" / "trainer_state.json").read_text())["step"] == 12
    with pytest.raises(ValueError, match="pass --resume"):
        run(tmp_path / "parts", sentiment, save_every=4)
    with pytest.raises(ValueError, match="differ from it.*lr"):
        run(tmp_path / "parts", sentiment, save_every=4, lr=2e-3, resume=True)
    run(tmp_path / "parts", sentiment, save_every=4, resume=True)
    for name in ("checkpoint/model.safetensors", "checkpoint/optimizer.safetensors", "best/model.safetensors"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "parts" / name).read_bytes(), name
    assert (without_wall_clock(read_metrics(tmp_path / "straight" / "metrics.jsonl"))
            == without_wall_clock(read_metrics(tmp_path / "parts" / "metrics.jsonl")))
    a = json.loads((tmp_path / "straight" / "checkpoint" / "trainer_state.json").read_text())
    b = json.loads((tmp_path / "parts" / "checkpoint" / "trainer_state.json").read_text())
    assert a["dropout_rng"] == b["dropout_rng"]
    assert without_wall_clock([a["best"]]) == without_wall_clock([b["best"]])


@needs_cls
def test_time_budget_stops_with_a_checkpoint_that_resumes(tmp_path, sentiment):
    summary = run(tmp_path / "budget", sentiment, time_budget=1e-4)  # spent at once: one step
    assert summary["steps"] == 1 < summary["total_steps"]
    state = json.loads((tmp_path / "budget" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 1
    assert (tmp_path / "budget" / "best" / "model.safetensors").is_file()  # it evaluated before stopping
    run(tmp_path / "budget", sentiment, resume=True)
    run(tmp_path / "straight", sentiment)
    for name in ("model.safetensors", "optimizer.safetensors"):
        assert ((tmp_path / "straight" / "checkpoint" / name).read_bytes()
                == (tmp_path / "budget" / "checkpoint" / name).read_bytes()), name


@needs_cls
def test_a_head_of_another_size_points_to_ignore_mismatched_sizes(tmp_path, sentiment):
    ids = tmp_path / "ids.jsonl"
    write_jsonl(ids, [{"text": r["text"], "label": int(r["label"] == "positive")} for r in sentiment_rows(16, 3)])
    run(tmp_path / "two", (ids, ids), epochs=1)                # a head of 2 labels, HF's names LABEL_0/1
    three = write_jsonl(tmp_path / "three.jsonl", sentiment_rows(16, 4, names=("neg", "neu")) +
                        sentiment_rows(8, 5, names=("pos", "pos")))
    with pytest.raises(ValueError, match=r"num_labels=2.*3 labels.*--ignore-mismatched-sizes"):
        run(tmp_path / "new", (three, three), model=tmp_path / "two" / "best", epochs=1)
    run(tmp_path / "new", (three, three), model=tmp_path / "two" / "best", epochs=1, ignore_mismatched_sizes=True)
    config = json.loads((tmp_path / "new" / "best" / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}


@needs_cls
def test_eval_label_unknown_to_training_is_a_data_error(tmp_path, sentiment):
    bad = write_jsonl(tmp_path / "eval.jsonl", sentiment_rows(3, 2) + [{"text": "so so", "label": "neutral"}])
    with pytest.raises(ValueError, match=r"eval\.jsonl, line 4, column 'label': label 'neutral' is not in"):
        run(tmp_path / "run", (sentiment[0], bad))


# ---------------------------------------------------------------------------------------- token classification

CITIES = ["paris", "london", "rome", "berlin", "madrid"]
PEOPLE = [["peter", "smith"], ["anna", "jones"], ["john", "brown"]]


def ner_rows(n, seed):
    """Sentences with a city (B-LOC) and a two-word person (B-PER I-PER) among filler words."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(int(rng.integers(2, 4))):
            tokens.append(str(rng.choice(FILLER)))
            tags.append("O")
        person = PEOPLE[int(rng.integers(len(PEOPLE)))]
        tokens += person + ["lives", "in", str(rng.choice(CITIES))]
        tags += ["B-PER", "I-PER", "O", "O", "B-LOC"]
        rows.append({"tokens": tokens, "tags": tags})
    return rows


@needs_tok
def test_token_classification_run(tmp_path):
    files = (write_jsonl(tmp_path / "train.jsonl", ner_rows(48, 1)), write_jsonl(tmp_path / "eval.jsonl", ner_rows(16, 2)))
    out = tmp_path / "run"
    run(out, files, task="token-classification", epochs=3)
    train, evals, config, model = check_run_files(out, "BertForTokenClassification")
    assert config["id2label"] == {"0": "B-LOC", "1": "B-PER", "2": "I-PER", "3": "O"}
    assert np.mean([r["loss"] for r in train[-3:]]) < np.mean([r["loss"] for r in train[:3]])
    assert {"eval_f1", "eval_precision", "eval_recall", "eval_loss"} <= set(evals[-1])
    assert evals[-1]["eval_f1"] > evals[0]["eval_f1"] or evals[-1]["eval_f1"] == 1.0
    entities = check_pipeline(out / "best", "token-classification", "anna jones lives in rome")
    assert {e["entity"] for e in entities} <= {"B-LOC", "B-PER", "I-PER", "O"}


# ---------------------------------------------------------------------------------------- question answering

COLOURS = ["red", "blue", "green", "black", "white"]
THINGS = ["car", "house", "door", "boat", "hat"]


def qa_rows(n, seed, padding_sentences=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        thing, colour = str(rng.choice(THINGS)), str(rng.choice(COLOURS))
        filler = " ".join(f"the {t} is old ." for t in rng.choice(THINGS, padding_sentences))
        context = f"{filler} the colour of the {thing} is {colour} . it is new .".strip()
        start = context.index(f"is {colour} .") + 3
        rows.append({"id": f"q{i}", "question": f"what colour is the {thing} ?", "context": context,
                     "answers": {"text": [colour], "answer_start": [start]}})
    return rows


@needs_qa
def test_question_answering_run_with_windows(tmp_path):
    # contexts longer than max_length 48: several windows per example, some without the answer
    files = (write_jsonl(tmp_path / "train.jsonl", qa_rows(24, 1, padding_sentences=6)),
             write_jsonl(tmp_path / "eval.jsonl", qa_rows(8, 2, padding_sentences=6)))
    out = tmp_path / "run"
    settings = make_settings("question-answering", max_length=48, doc_stride=16)
    data = prepare_task_data("question-answering", *files, BertTokenizer.from_pretrained(TINY), {}, settings)
    assert len(data.train_features) > len(data.train_examples)
    tokenizer = BertTokenizer.from_pretrained(TINY)
    for f in data.train_features:  # the answer tokens decode to the answer, or [CLS] (index 0) when outside
        if f["start_positions"]:
            piece = tokenizer.decode(f["input_ids"][f["start_positions"]:f["end_positions"] + 1])
            assert piece in COLOURS
    assert any(f["start_positions"] == 0 for f in data.train_features)
    run(out, files, task="question-answering", epochs=2, max_length=48, doc_stride=16, lr=2e-3)
    train, evals, config, model = check_run_files(out, "BertForQuestionAnswering")
    assert {"eval_exact_match", "eval_f1"} <= set(evals[-1])
    context = "the colour of the car is red . it is new ."
    answer = check_pipeline(out / "best", "question-answering", question="what colour is the car ?", context=context)
    assert context[answer["start"]:answer["end"]] == answer["answer"]
    assert np.mean([r["loss"] for r in train[-3:]]) < np.mean([r["loss"] for r in train[:3]])


def test_read_examples_keeps_the_file_order(tmp_path):
    f = write_jsonl(tmp_path / "q.jsonl", qa_rows(5, 0))
    assert [ex["id"] for ex in read_examples(f, "question-answering")] == [f"q{i}" for i in range(5)]


# ---------------------------------------------------------------------------------------- more of the loop

@needs_cls
def test_eval_every_adds_evaluations_between_epoch_ends(tmp_path, sentiment):
    run(tmp_path / "run", sentiment, epochs=2, eval_every=5)
    steps = [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "eval_accuracy" in r]
    assert steps == [5, 8, 10, 15, 16]  # every 5 steps and each epoch's end (8 steps an epoch)


@needs_cls
def test_nan_loss_stops_before_updating(tmp_path, sentiment, monkeypatch):
    from numpy_bert.train import TrainingDiverged

    cls = numpy_bert.BertForSequenceClassification
    original, calls = cls.loss_and_grads, {"n": 0}

    def nan_at_step_6(self, *args, **kwargs):
        loss, grads, details = original(self, *args, **kwargs)
        calls["n"] += 1
        return (float("nan") if calls["n"] == 6 else loss), grads, details

    monkeypatch.setattr(cls, "loss_and_grads", nan_at_step_6)
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at step 6.*checkpoint.*step 4.*--lr"):
        run(tmp_path / "run", sentiment, save_every=4)


@needs_cls
def test_sigkill_then_resume_through_the_cli_is_bit_identical(tmp_path, sentiment):
    import signal
    import subprocess
    import sys
    import time

    def start(out, *extra):
        args = ["--model", str(TINY), "--task", "text-classification", "--train", str(sentiment[0]), "--eval",
                str(sentiment[1]), "--out", str(out), "--epochs", "6", "--lr", "1e-3", "--save-every", "2",
                "--quiet", *extra]
        return subprocess.Popen([sys.executable, "-m", "numpy_bert", "finetune", *args], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    straight = start(tmp_path / "straight")
    assert straight.wait(timeout=120) == 0, straight.stderr.read()
    killed = start(tmp_path / "killed")
    state = tmp_path / "killed" / "checkpoint" / "trainer_state.json"
    deadline = time.time() + 120
    while time.time() < deadline and killed.poll() is None and not state.is_file():
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert 2 <= json.loads(state.read_text())["step"] < 48
    resumed = start(tmp_path / "killed", "--resume")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    for name in ("checkpoint/model.safetensors", "checkpoint/optimizer.safetensors", "best/model.safetensors"):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes(), name
    assert (without_wall_clock(read_metrics(tmp_path / "straight" / "metrics.jsonl"))
            == without_wall_clock(read_metrics(tmp_path / "killed" / "metrics.jsonl")))
