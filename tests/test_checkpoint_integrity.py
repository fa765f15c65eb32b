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
