"""Checkpoints carry their integrity, and a run directory is used by one run at a time.

trainer_state.json records the SHA-256 of every other file of the checkpoint; ``--resume``
(pretrain and finetune) checks them and the state's fields before anything trains. Each
damaged case below must fail naming the file, leave the run directory byte for byte as it
was, and exit non-zero at the CLI with one line and no traceback. The lock on ``--out``
(``utils.lock_directory``, fcntl.flock) refuses a second run at once and dies with its
holder, SIGKILL included.

Runs are the ``micro`` preset for 4 steps (pretrain) and 2 short epochs of the shipped tiny
model (finetune): a second or two each.
"""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numpy_bert import cli
from numpy_bert.train import STATE_FILE, pretrain
from numpy_bert.utils import LOCK_FILE, DirectoryLocked, lock_directory
from tests.test_finetune import TINY, sentiment_rows, write_jsonl
from tests.test_train import write_corpus

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore:Some weights of:UserWarning")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory, corpus):
    """A finished 4-step micro run (checkpoint at step 4) to copy and damage."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    pretrain(out, corpus=str(corpus), preset="micro", steps=4, save_every=2, eval_every=2, quiet=True)
    return out


def snapshot(directory):
    """{relative path: bytes} of every file under ``directory``: what "touches nothing" compares."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(Path(directory).rglob("*"))
            if p.is_file()}


def resume_pretrain(out, corpus, **kw):
    return pretrain(out, corpus=str(corpus), preset="micro", resume=True, quiet=True, **kw)


def cli_fails(argv, capsys):
    """Run the CLI; return its one-line stderr after checking exit 1 and no traceback."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_the_state_records_every_file_of_the_checkpoint(pretrained_run):
    from numpy_bert.train import file_sha256

    checkpoint = pretrained_run / "checkpoint"
    state = json.loads((checkpoint / STATE_FILE).read_text())
    names = {p.name for p in checkpoint.iterdir()} - {STATE_FILE}
    assert set(state["files"]) == names == {"config.json", "model.safetensors", "optimizer.safetensors",
                                            "tokenizer_config.json", "vocab.txt"}
    for name, digest in state["files"].items():
        assert digest == file_sha256(checkpoint / name)


def flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10   # in the tensor data, past the header
    path.write_bytes(bytes(data))


def change_a_vocab_line(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[-1] = lines[-1] + "x"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def edit_state(**changes):
    def edit(path):
        state = json.loads(path.read_text())
        for dotted, value in changes.items():
            target, *keys = [state] + dotted.split("__")
            for key in keys[:-1]:
                target = target[key]
            target[keys[-1]] = value
        path.write_text(json.dumps(state))
    return edit


def delete(path):
    path.unlink()


DAMAGE = [  # (id, file damaged, how, what the message says)
    ("flipped bit in the weights", "model.safetensors", flip_a_bit,
     r"checkpoint/model.safetensors: the file's SHA-256 differs from the one trainer_state.json records"),
    ("changed vocab line", "vocab.txt", change_a_vocab_line,
     r"checkpoint/vocab.txt: the file's SHA-256 differs"),
    ("flipped bit in the optimizer", "optimizer.safetensors", flip_a_bit,
     r"checkpoint/optimizer.safetensors: the file's SHA-256 differs"),
    ("missing file", "config.json", delete, r"checkpoint/config.json: the file is missing"),
    ("data.position 10**9", STATE_FILE, edit_state(data__position=10 ** 9),
     r"trainer_state.json: the field 'data.position' is 1000000000, but must be in \[0, 32\]"),
    ("negative step", STATE_FILE, edit_state(step=-1),
     r"trainer_state.json: the field 'step' is -1, but must be in \[0, 4\]"),
    ("step as a string", STATE_FILE, edit_state(step="4"),
     r"trainer_state.json: the field 'step' must be an integer, got \"4\""),
    ("step past total_steps", STATE_FILE, edit_state(step=5), r"the field 'step' is 5, but must be in \[0, 4\]"),
    ("epoch beyond the steps", STATE_FILE, edit_state(data__epoch=7), r"the field 'data.epoch' is 7"),
    ("broken generator state", STATE_FILE, edit_state(dropout_rng={"bit_generator": "PCG64"}),
     r"the field 'dropout_rng' must be a numpy random generator state"),
    ("bad settings", STATE_FILE, edit_state(settings__batch_size=0),
     r"trainer_state.json: its settings are not valid \(--batch-size must be a positive integer, got 0\)"),
    ("no settings", STATE_FILE, edit_state(settings=None), r"the field 'settings' must be a JSON object"),
    ("bad hash list", STATE_FILE, edit_state(files={"../config.json": "0" * 64}),
     r"\"files\" names '../config.json', which is not a file of the checkpoint"),
    ("broken JSON", STATE_FILE, lambda p: p.write_text('{"step": 4,'),
     r"trainer_state.json: not valid JSON \(Expecting property name enclosed in double quotes at line 1"),
    ("a JSON list", STATE_FILE, lambda p: p.write_text("[4]"), r"trainer_state.json: it must hold a JSON object"),
    ("a file the run did not write", "tokenizer.json", lambda p: p.write_text("{}"),
     r"checkpoint/tokenizer.json: the run did not write this file: trainer_state.json does not record it; "
     r"nothing was trained"),
]


@pytest.mark.parametrize("name, target, damage, message", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_checkpoint_is_refused_naming_the_file_and_nothing_changes(tmp_path, pretrained_run, corpus,
                                                                            name, target, damage, message,
                                                                            capsys):
    out = tmp_path / "run"
    shutil.copytree(pretrained_run, out)
    damage(out / "checkpoint" / target)
    before = snapshot(out)
    with pytest.raises(ValueError, match=message) as raised:
        resume_pretrain(out, corpus, steps=4)
    assert "nothing was trained" in str(raised.value)
    assert snapshot(out) == before
    err = cli_fails(["pretrain", "--out", str(out), "--corpus", str(corpus), "--preset", "micro", "--resume",
                     "--quiet"], capsys)
    assert str(out / "checkpoint") in err or "trainer_state.json" in err
    assert snapshot(out) == before


def test_a_broken_metrics_file_is_named(tmp_path, pretrained_run, corpus):
    out = tmp_path / "run"
    shutil.copytree(pretrained_run, out)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1][:-5]
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    before = snapshot(out)
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: not valid JSON"):
        resume_pretrain(out, corpus, steps=4)
    assert snapshot(out) == before
    (out / "metrics.jsonl").write_text('{"step": 0}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: a record must be a JSON object with an integer"):
        resume_pretrain(out, corpus, steps=4)


def test_a_checkpoint_from_before_the_hashes_resumes_with_a_warning_and_gets_them(tmp_path, pretrained_run, corpus):
    out = tmp_path / "run"
    shutil.copytree(pretrained_run, out)
    state_path = out / "checkpoint" / STATE_FILE
    state = json.loads(state_path.read_text())
    del state["files"]
    state["total_steps"] = state["settings"]["steps"] = 6   # so that resuming trains 2 more steps
    state_path.write_text(json.dumps(state))
    with pytest.warns(UserWarning, match=r"trainer_state.json records no SHA-256 .* cannot be verified"):
        summary = resume_pretrain(out, corpus)
    assert summary["steps"] == 6
    assert set(json.loads(state_path.read_text())["files"]) >= {"model.safetensors", "vocab.txt"}


def test_an_intact_checkpoint_still_resumes(tmp_path, pretrained_run, corpus):
    out = tmp_path / "run"
    shutil.copytree(pretrained_run, out)
    state_path = out / "checkpoint" / STATE_FILE
    state = json.loads(state_path.read_text())
    assert resume_pretrain(out, corpus, steps=4)["steps"] == 4 == state["step"]   # nothing left to train


# ---------------------------------------------------------------------------------------- finetune


@pytest.fixture(scope="module")
def finetuned_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("finetune")
    train = write_jsonl(d / "train.jsonl", sentiment_rows(16, 1))
    evaluation = write_jsonl(d / "eval.jsonl", sentiment_rows(8, 2))
    out = d / "run"
    argv = ["finetune", "--model", str(TINY), "--task", "text-classification", "--train", str(train),
            "--eval", str(evaluation), "--out", str(out), "--epochs", "1", "--batch-size", "8", "--quiet"]
    assert cli.main(argv) == 0
    return out, argv


FINETUNE_DAMAGE = [
    ("flipped bit in the weights", "model.safetensors", flip_a_bit, r"checkpoint/model.safetensors: the file's SHA"),
    ("changed vocab line", "vocab.txt", change_a_vocab_line, r"checkpoint/vocab.txt: the file's SHA-256 differs"),
    ("step 10**9", STATE_FILE, edit_state(step=10 ** 9), r"the field 'step' is 1000000000, but must be in \[0, 2\]"),
    ("best step as a float", STATE_FILE, edit_state(best__step=1.5), r"the field 'best.step' must be an integer"),
    ("window tokens negative", STATE_FILE, edit_state(window__tokens=-3), r"the field 'window.tokens' is -3"),
    ("steps per epoch of other data", STATE_FILE, edit_state(settings__steps_per_epoch=1, total_steps=1, step=1,
                                                           best__step=1),
     r"step 1 of 1 per epoch does not fit this data \(2 steps per epoch, 2 in all\)"),
]


@pytest.mark.parametrize("name, target, damage, message", FINETUNE_DAMAGE, ids=[d[0] for d in FINETUNE_DAMAGE])
def test_finetune_resume_refuses_a_damaged_checkpoint(tmp_path, finetuned_run, name, target, damage, message,
                                                      capsys):
    run, argv = finetuned_run
    out = tmp_path / "run"
    shutil.copytree(run, out)
    damage(out / "checkpoint" / target)
    before = snapshot(out)
    argv = [str(out) if a == str(run) else a for a in argv] + ["--resume"]
    err = cli_fails(argv, capsys)
    assert "nothing was trained" in err
    assert re.search(message, err), err
    assert snapshot(out) == before


# ---------------------------------------------------------------------------------------- the lock on --out


def test_a_second_run_on_a_locked_directory_fails_at_once_and_touches_nothing(tmp_path, pretrained_run, corpus,
                                                                            capsys):
    out = tmp_path / "run"
    shutil.copytree(pretrained_run, out)
    before = snapshot(out)
    with lock_directory(out):
        start = time.monotonic()
        with pytest.raises(DirectoryLocked, match=r"is in use by another numpy-bert run \(process \d+\), which "
                                                  r"holds its lock \.numpy_bert\.lock; nothing was changed"):
            resume_pretrain(out, corpus)
        err = cli_fails(["pretrain", "--out", str(out), "--corpus", str(corpus), "--preset", "micro", "--resume",
                         "--quiet"], capsys)
        assert "in use by another numpy-bert run" in err
        err = cli_fails(["finetune", "--model", str(TINY), "--task", "text-classification", "--train", str(corpus),
                         "--eval", str(corpus), "--out", str(out)], capsys)
        assert "in use by another numpy-bert run" in err
        assert time.monotonic() - start < 30   # at once: no waiting for the lock
        locked = snapshot(out)
    assert {k: v for k, v in locked.items() if k != LOCK_FILE} == {k: v for k, v in before.items()
                                                                  if k != LOCK_FILE}


def test_a_lock_dies_with_its_process_even_by_sigkill(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom numpy_bert.utils import lock_directory\n"
         "with lock_directory(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(600)\n", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DirectoryLocked, match=rf"process {holder.pid}"):
            with lock_directory(out):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with lock_directory(out):   # the kernel released the dead process's lock: no stale lock
        pass


def test_a_failed_new_run_leaves_no_directory_behind(tmp_path, corpus):
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="--time-budget must be a number of minutes >= 0"):
        pretrain(out, corpus=str(corpus), preset="micro", time_budget=-1, quiet=True)
    assert not out.exists()


# -- found by the full mutation run of train: check_pretrain_state, check_field and the
# -- restore of a checkpoint (restore_checkpoint, PairStream.load_state), called directly on
# -- the pretrained_run fixture's trainer_state.json (no CLI, no training: milliseconds each)

DROP = object()  # as a value in edited(): delete the field


def edited(state, **changes):
    """A deep copy of ``state`` with the dotted fields (``data__position``) set, or deleted (DROP)."""
    state = json.loads(json.dumps(state))
    for dotted, value in changes.items():
        target, *keys = [state] + dotted.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is DROP:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return state


def damaged_message(path, problem):
    """The whole message of a damaged checkpoint file, as a regex: the file, the problem, what to do."""
    return (rf"^{re.escape(str(path))}: {problem}; the checkpoint is damaged, so nothing was trained: resume from "
            r"an intact copy of the run directory, or start a new run with another --out$")


@pytest.fixture
def run_state(pretrained_run):
    """The fixture run's trainer_state.json (step 4 of 4, batch 8) and its path."""
    path = pretrained_run / "checkpoint" / STATE_FILE
    return json.loads(path.read_text()), path


ACCEPTED = [  # (id, changes): a state still in range, which check_pretrain_state must accept
    ("the run's own state", {}),
    ("a time budget", {"settings__time_budget": 5.0}),
    ("a time budget under a minute", {"settings__time_budget": 0.5}),
    ("a run from before group_by_length", {"settings__group_by_length": DROP}),
    ("one step of one in all", {"total_steps": 1, "step": 1, "data__position": 8}),
    ("a vocabulary of one token", {"vocab_size": 1}),
]


@pytest.mark.parametrize("name, changes", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_check_pretrain_state_accepts_the_fields_at_the_ends_of_their_ranges(run_state, name, changes):
    """check_pretrain_state accepts the run's state and states at the ends of each field's range."""
    from numpy_bert.train import check_pretrain_state

    state, path = run_state
    assert check_pretrain_state(edited(state, **changes), path) is None


REFUSED = [  # (id, changes, the problem the whole message names)
    ("unknown preset", {"settings__preset": "huge"},
     r"the field 'settings\.preset' is \"huge\", not one of \['micro', 'tiny'\]"),
    ("long preset cut to 40 characters", {"settings__preset": "p" * 60},
     r"the field 'settings\.preset' is \"" + "p" * 39 + r", not one of \['micro', 'tiny'\]"),
    ("optimizer not a string", {"settings__optimizer": 3}, r"the field 'settings\.optimizer' must be a str, got 3"),
    ("group_by_length not a bool", {"settings__group_by_length": "yes"},
     r"the field 'settings\.group_by_length' must be a bool, got \"yes\""),
    ("long group_by_length cut to 40 characters", {"settings__group_by_length": "y" * 60},
     r"the field 'settings\.group_by_length' must be a bool, got \"" + "y" * 39),
    ("a setting missing", {"settings__hidden_size": DROP}, r"the field 'settings\.hidden_size' is missing"),
    ("hidden_size a string", {"settings__hidden_size": "32"},
     r"the field 'settings\.hidden_size' must be an integer, got \"32\""),
    ("hidden_size a float", {"settings__hidden_size": 32.5},
     r"the field 'settings\.hidden_size' must be an integer, got 32\.5"),
    ("a run from before group_by_length with a later field wrong",
     {"settings__group_by_length": DROP, "settings__max_predictions_per_seq": "5"},
     r"the field 'settings\.max_predictions_per_seq' must be an integer, got \"5\""),
    ("negative time budget", {"settings__time_budget": -1},
     r"the field 'settings\.time_budget' is -1, but must be >= 0"),
    ("time budget a string", {"settings__time_budget": "5"},
     r"the field 'settings\.time_budget' must be a finite number or null, got \"5\""),
    ("steps 0", {"settings__steps": 0},
     r"its settings are not valid \(--steps must be a positive integer, got 0\)"),
    ("negative lr", {"settings__lr": -1.0}, r"its settings are not valid \(--lr must be a positive number, got -1\.0\)"),
    ("negative warmup", {"settings__warmup_steps": -1},
     r"its settings are not valid \(--warmup-steps must be >= 0, got -1\)"),
    ("seq_len 4", {"settings__seq_len": 4},
     r"its settings are not valid \(--seq-len must be at least 8 \(\[CLS\] A \[SEP\] B \[SEP\] plus some text\), "
     r"got 4\)"),
    ("eval_every 0", {"settings__eval_every": 0},
     r"its settings are not valid \(--eval-every must be a positive integer, got 0\)"),
    ("save_every 0", {"settings__save_every": 0},
     r"its settings are not valid \(--save-every must be a positive integer, got 0\)"),
    ("log_every 0", {"settings__log_every": 0},
     r"its settings are not valid \(--log-every must be a positive integer, got 0\)"),
    ("total_steps 0", {"total_steps": 0}, r"the field 'total_steps' is 0, but must be in \[1, 4\]"),
    ("total_steps past the settings' steps", {"total_steps": 5}, r"the field 'total_steps' is 5, but must be in \[1, 4\]"),
    ("vocab_size 0", {"vocab_size": 0}, r"the field 'vocab_size' is 0, but must be >= 1"),
    ("corpus_sha256 too short", {"corpus_sha256": "abc"},
     r"the field 'corpus_sha256' must be a SHA-256 hex digest, got \"abc\""),
    ("negative epoch", {"data__epoch": -1}, r"the field 'data\.epoch' is -1, but must be in \[0, 4\]"),
    ("broken mask generator state", {"data__mask_rng": {"bit_generator": "PCG64"}},
     r"the field 'data\.mask_rng' must be a numpy random generator state, got \{\"bit_generator\": \"PCG64\"\}"),
    ("data null", {"data": None}, r"the field 'data\.epoch' is missing"),
]


@pytest.mark.parametrize("name, changes, problem", REFUSED, ids=[r[0] for r in REFUSED])
def test_check_pretrain_state_refuses_a_field_out_of_range_with_the_whole_message(run_state, name, changes,
                                                                                  problem):
    """check_pretrain_state refuses each damaged field with the whole message: file, field, value, what to do."""
    from numpy_bert.train import check_pretrain_state

    state, path = run_state
    with pytest.raises(ValueError, match=damaged_message(path, problem)):
        check_pretrain_state(edited(state, **changes), path)


@pytest.fixture
def run_pieces(pretrained_run, corpus):
    """make(): a fresh (stream, model, optimizer) of the fixture run, as pretrain() builds them to resume it."""
    from numpy_bert.model import BertForPreTraining
    from numpy_bert.optim import make_optimizer
    from numpy_bert.tokenization import BertTokenizer
    from numpy_bert.train import _model_config, load_documents, prepare_data, split_documents

    settings = json.loads((pretrained_run / "checkpoint" / STATE_FILE).read_text())["settings"]
    tokenizer = BertTokenizer(str(pretrained_run / "checkpoint" / "vocab.txt"), do_lower_case=True)
    train_docs, heldout_docs = split_documents(load_documents(str(corpus)), settings["heldout_fraction"],
                                               settings["seed"])

    def make():
        stream, _ = prepare_data(train_docs, heldout_docs, tokenizer, settings, lambda *a: None)
        model = BertForPreTraining(_model_config(settings, len(tokenizer.vocab)), seed=settings["seed"])
        return stream, model, make_optimizer(settings["optimizer"], model.params)

    return make


def draw_two_epochs(stream):
    """[(the stream's state before a batch, through JSON as a checkpoint keeps it, the batch)] until epoch 2
    begins; the state before epoch e + 1's first batch is epoch e at its end."""
    drawn = []
    while stream.epoch < 2:
        state = json.loads(json.dumps(stream.state()))
        drawn.append((state, stream.next_batch()))
    return drawn


def pairs_per_epoch(drawn):
    """{epoch: its number of sentence pairs}, as the batches drawn used them up."""
    return {e: max(state["position"] for state, _ in drawn if state["epoch"] == e) for e in (0, 1)}


def test_a_stream_resumed_at_any_batch_boundary_draws_the_same_batch(run_pieces):
    """PairStream.load_state of any state() a run can save (an epoch's end included) draws the same next batch."""
    stream, _, _ = run_pieces()
    drawn = draw_two_epochs(stream)  # epoch 0 at its end (position = its pairs) is one of the states
    for state, batch in drawn:
        resumed, _, _ = run_pieces()
        resumed.load_state(state)
        again = resumed.next_batch()
        assert again.keys() == batch.keys()
        for key in batch:
            np.testing.assert_array_equal(again[key], batch[key], err_msg=f"{state}: {key}")


@pytest.mark.parametrize("epoch", [0, 1])
def test_a_data_position_past_the_end_of_its_epoch_is_refused(run_pieces, epoch):
    """PairStream.load_state refuses a position past its epoch's pairs, saying the position, epoch and count."""
    stream, _, _ = run_pieces()
    drawn = draw_two_epochs(stream)
    n = pairs_per_epoch(drawn)[epoch]
    state = dict(drawn[0][0], epoch=epoch, position=n + 1)
    with pytest.raises(ValueError, match=rf"^the field 'data\.position' is {n + 1}, past the end of epoch {epoch}, "
                                         rf"which has {n} sentence pairs$"):
        run_pieces()[0].load_state(state)


def test_restoring_a_position_past_the_epoch_names_the_state_file(pretrained_run, run_pieces):
    """restore_checkpoint turns PairStream.load_state's error into the damaged-checkpoint message naming the file."""
    from numpy_bert.train import restore_checkpoint

    checkpoint = pretrained_run / "checkpoint"
    state = json.loads((checkpoint / STATE_FILE).read_text())
    n = pairs_per_epoch(draw_two_epochs(run_pieces()[0]))[0]
    stream, model, optimizer = run_pieces()
    problem = rf"the field 'data\.position' is {n + 1}, past the end of epoch 0, which has {n} sentence pairs"
    with pytest.raises(ValueError, match=damaged_message(checkpoint / STATE_FILE, problem)):
        restore_checkpoint(checkpoint, edited(state, data__epoch=0, data__position=n + 1), model, optimizer, stream)


def test_restoring_a_state_of_another_vocabulary_size_is_refused(pretrained_run, run_pieces):
    """restore_checkpoint refuses a trainer_state.json vocab_size that is not its vocab.txt's, naming both sizes."""
    from numpy_bert.train import restore_checkpoint

    checkpoint = pretrained_run / "checkpoint"
    state = json.loads((checkpoint / STATE_FILE).read_text())
    stream, model, optimizer = run_pieces()
    tokens = len((checkpoint / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert model.config.vocab_size == tokens == state["vocab_size"]
    with pytest.raises(ValueError, match=damaged_message(checkpoint / STATE_FILE, rf"the field 'vocab_size' is "
                                                         rf"{tokens + 1}, but the checkpoint's vocab\.txt has {tokens} tokens")):
        restore_checkpoint(checkpoint, edited(state, vocab_size=tokens + 1), model, optimizer, stream)


def test_a_dotted_field_under_a_value_that_is_not_an_object_is_missing(tmp_path):
    """check_field reports a dotted field under a non-object, at any depth, as missing, not an AttributeError."""
    from numpy_bert.train import check_field

    path = tmp_path / STATE_FILE
    for state, key in (({"data": None}, "data.epoch"), ({"data": [0, 8]}, "data.epoch"),
                       ({"data": 5}, "data.mask_rng.state"), ({"data": {"mask_rng": None}}, "data.mask_rng.state")):
        with pytest.raises(ValueError, match=damaged_message(path, rf"the field {re.escape(repr(key))} is missing")):
            check_field(state, key, path, "dict")
