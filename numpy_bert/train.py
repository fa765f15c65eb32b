"""Pretrain a small BERT with masked LM + next sentence prediction: ``numpy-bert pretrain``.

The command's options and entry point are in ``numpy_bert.cli``; the run is
``pretrain()``, at the end of this file.

The loop, one step (BERT's recipe, google-research/bert run_pretraining.py):

    batch = next 'B' sentence pairs of this epoch, masked anew (dynamic masking)
    loss, grads = model.loss_and_grads(batch)       # MLM loss + NSP loss, dropout on
    clip_by_global_norm(grads, 1.0)
    optimizer.step(grads, lr=learning_rate(step))   # AdamWeightDecay, warmup + linear decay

``pretrain()`` reads top to bottom; each part of its loop is a function defined
above it: ``train_step`` (the last three lines above, and a stop if the loss or the
gradients are NaN or infinite), ``accumulate`` and ``log_record`` (the averages of a
progress line), ``fit_time_budget`` (``--time-budget``), ``timed_evaluate`` and
``save_run``.

What a run does, in order:

1. read the corpus (``--corpus FILE``: one sentence per line, a blank line between
   documents; default: ``numpy_bert.corpus``'s documents built from the docstrings
   installed with Python, NumPy and matplotlib) and hold out a few documents;
2. train a WordPiece vocabulary of the preset's size on the training documents
   (unless ``--vocab FILE``) and tokenize every sentence once;
3. every epoch, cut the training documents into ``[CLS] A [SEP] B [SEP]`` pairs
   (``numpy_bert.data.create_sentence_pairs``, a fresh cut per epoch) and mask
   every batch when it is drawn (``Masking.mask_instances``);
4. train, printing a progress line and appending to ``OUT/metrics.jsonl``;
   evaluate on the held-out documents (MLM loss and accuracy, NSP loss and
   accuracy) every ``--eval-every`` steps;
5. save ``OUT/checkpoint/`` (HF layout: config.json, model.safetensors, vocab.txt,
   tokenizer_config.json, plus optimizer.safetensors and trainer_state.json) every
   ``--save-every`` steps and at the end, and draw ``OUT/curves.png``.

Every random choice has its own ``numpy.random.Generator``, all derived from
``--seed``: model init ``[seed]``, dropout ``[seed, 1]`` (the model's ``rng``),
the pair cuts of epoch e ``[seed, 2, e]``, the masks ``[seed, 3]``, the held-out
split and held-out data ``[seed, 4]``. The checkpoint stores the generators'
states (``bit_generator.state`` as JSON), the optimizer's moments and the position
in the epoch, so ``--resume`` continues bit for bit where the checkpoint left off.
"""

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from numpy_bert.norms import activation_rms, gradient_norms, plot_norms
from numpy_bert.optim import clip_by_global_norm, clip_grad_norm, learning_rate, make_optimizer
from numpy_bert.utils import atomic_write, file_sha256, holds_directory_lock

# ---------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------

PRESETS = {
    # Trains on 2 CPU cores in 10 minutes; the shipped model is its 30-minute run
    # (--time-budget 30; see weights/numpy-bert-tiny/README.md).
    "tiny": dict(
        vocab_size=8000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=512, seq_len=128, batch_size=64, lr=1e-3, warmup_steps=300, group_by_length=True,
        steps=100_000,        # an upper bound: the time budget decides (see --time-budget)
        time_budget=9.5,      # minutes of wall clock, vocab and data included
        eval_every=200, eval_size=1024, save_every=500, log_every=10,
        max_predictions_per_seq=20, short_seq_prob=0.1, heldout_fraction=0.05,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1),
    # For tests and demos: a few seconds.
    "micro": dict(
        vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, seq_len=32, batch_size=8, lr=1e-3, warmup_steps=5, group_by_length=True,
        steps=40, time_budget=None, eval_every=10, eval_size=32, save_every=10, log_every=5,
        max_predictions_per_seq=5, short_seq_prob=0.1, heldout_fraction=0.2,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1),
}

# metrics.jsonl fields that depend on the wall clock (left out when comparing runs)
WALL_CLOCK_FIELDS = ("tokens_per_s", "elapsed_s", "eta_s")

CHECKPOINT = "checkpoint"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
CALIBRATION_STEPS = 20  # with a time budget, the step count is first estimated after this many steps


class TrainingDiverged(ValueError):
    """The loss or the gradients became NaN or infinite; nothing was updated or saved."""


# ---------------------------------------------------------------------------------------
# settings of a run
# ---------------------------------------------------------------------------------------

def check_time_budget(minutes):
    """--time-budget: a finite number of minutes >= 0 (0 = no budget); else ValueError."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not (
            math.isfinite(minutes) and minutes >= 0):
        raise ValueError(f"--time-budget must be a number of minutes >= 0 (0 = no budget), got {minutes!r}")


def make_settings(preset="tiny", steps=None, seed=0, batch_size=None, lr=None, warmup_steps=None,
                  seq_len=None, eval_every=None, save_every=None, log_every=None, time_budget=None,
                  optimizer="adamweightdecay"):
    """The preset's settings with the given overrides, checked. Returns a dict (JSON-able)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    s = dict(PRESETS[preset], preset=preset, seed=int(seed), optimizer=optimizer)
    if steps is not None:
        s["steps"] = steps
        s["time_budget"] = None  # an explicit step count is not cut by the preset's budget
    overrides = dict(batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, seq_len=seq_len,
                     eval_every=eval_every, save_every=save_every, log_every=log_every)
    s.update({k: v for k, v in overrides.items() if v is not None})
    if time_budget is not None:
        check_time_budget(time_budget)
        s["time_budget"] = time_budget if time_budget > 0 else None
    for key in ("steps", "batch_size", "eval_every", "save_every", "log_every", "eval_size"):
        if not isinstance(s[key], int) or s[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be a positive integer, got {s[key]!r}")
    if s["warmup_steps"] < 0:
        raise ValueError(f"--warmup-steps must be >= 0, got {s['warmup_steps']}")
    if not s["seq_len"] >= 8:
        raise ValueError(f"--seq-len must be at least 8 ([CLS] A [SEP] B [SEP] plus some text), "
                         f"got {s['seq_len']}")
    if not (s["lr"] > 0 and math.isfinite(s["lr"])):
        raise ValueError(f"--lr must be a positive number, got {s['lr']}")
    return s


def _model_config(settings, vocab_size):
    from numpy_bert.config import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=settings["hidden_size"],
                      num_hidden_layers=settings["num_hidden_layers"],
                      num_attention_heads=settings["num_attention_heads"],
                      intermediate_size=settings["intermediate_size"],
                      hidden_dropout_prob=settings["hidden_dropout_prob"],
                      attention_probs_dropout_prob=settings["attention_probs_dropout_prob"],
                      max_position_embeddings=settings["seq_len"])


# ---------------------------------------------------------------------------------------
# corpus, vocabulary, data
# ---------------------------------------------------------------------------------------

def load_documents(corpus=None):
    """Documents (lists of sentences) from a corpus file, or the built-in default corpus."""
    from numpy_bert import corpus as corpus_module

    if corpus is None:
        path = corpus_module.build_default_corpus()  # cached after the first build
    else:
        path = Path(corpus)
        if path.is_dir():
            raise IsADirectoryError(f"corpus file {corpus} is a directory, not a file (expected a text file: one "
                                    "sentence per line, a blank line between documents)")
        if not path.is_file():
            raise OSError(f"corpus file {corpus} not found (expected a text file: one sentence per line, "
                          "a blank line between documents)")
    documents = corpus_module.read_corpus(path, min_documents=1)
    documents = [[s for s in doc if s.strip()] for doc in documents]
    return [doc for doc in documents if doc]


def corpus_fingerprint(documents):
    """sha256 of the documents' text: --resume checks it is the same corpus."""
    h = hashlib.sha256()
    for doc in documents:
        for sentence in doc:
            h.update(sentence.encode("utf-8"))
            h.update(b"\n")
        h.update(b"\n")
    return h.hexdigest()


def split_documents(documents, fraction, seed):
    """Hold out round(fraction * n) documents (at least 2, for NSP), chosen with rng [seed, 4]."""
    n = len(documents)
    if n == 0:
        raise ValueError("the corpus is empty: it needs documents of sentences (one sentence per line, "
                         "a blank line between documents)")
    if n < 4:
        raise ValueError(f"the corpus has {n} document(s), but pretraining needs at least 4: next sentence "
                         "prediction draws the random B from another document, so 2 are needed to train and "
                         "2 are held out for evaluation; separate documents with a blank line")
    n_heldout = min(max(2, int(round(fraction * n))), n - 2)
    order = np.random.default_rng([seed, 4]).permutation(n)
    heldout = sorted(order[:n_heldout].tolist())
    held = set(heldout)
    return [documents[i] for i in range(n) if i not in held], [documents[i] for i in heldout]


def build_vocab(documents, vocab_size, path):
    """Train a WordPiece vocabulary on the documents and write it to ``path``."""
    from numpy_bert.tokenization import write_vocab
    from numpy_bert.vocab_trainer import train_wordpiece

    texts = [" ".join(doc) for doc in documents]
    vocab = train_wordpiece(texts, vocab_size=vocab_size, do_lower_case=True)
    write_vocab(vocab, path)
    return vocab


class PairStream:
    """Endless batches of masked sentence pairs; the state lives in (epoch, position, mask rng).

    Epoch e cuts the documents into pairs with ``default_rng([seed, 2, e])`` (so an
    epoch can be rebuilt on --resume from its number alone); each batch is masked when
    it is drawn with ``self.mask_rng`` (dynamic masking, as RoBERTa / HF's collator).
    The last incomplete batch of an epoch is dropped.

    With ``group_by_length`` (HF Trainer's option of that name) the shuffled pairs are
    taken 50 batches at a time, sorted by length and cut into batches, and the batches
    are shuffled again: a batch then holds pairs of similar length, so cutting its
    padding (``trim_padding``) saves most of the compute padding would cost.
    """

    GROUP = 50  # batches per length-sorted group

    def __init__(self, documents, tokenizer, masking, settings):
        from numpy_bert import data

        self.data = data
        self.documents = documents  # list of documents of id arrays
        self.tokenizer = tokenizer
        self.masking = masking
        self.seq_len = settings["seq_len"]
        self.batch_size = settings["batch_size"]
        self.short_seq_prob = settings["short_seq_prob"]
        self.group_by_length = settings.get("group_by_length", False)
        self.seed = settings["seed"]
        self.mask_rng = np.random.default_rng([self.seed, 3])
        self.epoch, self.position, self.pairs = 0, 0, None

    def _cut(self, epoch):
        rng = np.random.default_rng([self.seed, 2, epoch])
        pairs = self.data.create_sentence_pairs(self.documents, self.seq_len, rng,
                                                short_seq_prob=self.short_seq_prob, tokenizer=self.tokenizer)
        if not self.group_by_length or len(pairs) < self.batch_size:
            return pairs
        B = self.batch_size
        pairs = pairs[:len(pairs) - len(pairs) % B]  # whole batches only
        batches = []
        for start in range(0, len(pairs), self.GROUP * B):
            group = sorted(pairs[start:start + self.GROUP * B], key=lambda p: len(p.input_ids))
            batches += [group[i:i + B] for i in range(0, len(group), B)]
        return [pair for k in rng.permutation(len(batches)) for pair in batches[k]]

    def next_batch(self):
        if self.pairs is None:
            self.pairs = self._cut(self.epoch)
        if self.position + self.batch_size > len(self.pairs) and self.position > 0:
            self.epoch, self.position = self.epoch + 1, 0
            self.pairs = self._cut(self.epoch)
        chosen = self.pairs[self.position:self.position + self.batch_size]
        self.position += len(chosen)
        instances = self.masking.mask_instances(chosen, self.mask_rng)
        return trim_padding(self.data.collate(instances, self.seq_len, self.tokenizer.pad_token_id))

    def state(self):
        return {"epoch": self.epoch, "position": self.position, "mask_rng": self.mask_rng.bit_generator.state}

    def load_state(self, state):
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.mask_rng.bit_generator.state = state["mask_rng"]
        self.pairs = None if self.position == 0 and self.epoch == 0 else self._cut(self.epoch)
        if self.pairs is not None and self.position > len(self.pairs):
            raise ValueError(f"the field 'data.position' is {self.position}, past the end of epoch {self.epoch}, "
                             f"which has {len(self.pairs)} sentence pairs")


def heldout_batches(documents, tokenizer, masking, settings):
    """Fixed held-out batches: at most eval_size pairs of the held-out documents, masked once."""
    from numpy_bert import data

    rng = np.random.default_rng([settings["seed"], 4, 1])
    pairs = data.create_sentence_pairs(documents, settings["seq_len"], rng,
                                       short_seq_prob=settings["short_seq_prob"], tokenizer=tokenizer)
    instances = masking.mask_instances(pairs[:settings["eval_size"]], rng)
    instances.sort(key=lambda inst: len(inst.input_ids))  # similar lengths together: less padding
    size = settings["batch_size"]
    return [trim_padding(data.collate(instances[i:i + size], settings["seq_len"], tokenizer.pad_token_id))
            for i in range(0, len(instances), size)]


def trim_padding(batch):
    """Cut the (B, T) arrays to the longest row: columns of padding only cost time.

    The real tokens' outputs do not change: padded keys get attention probability 0.
    """
    T = int(batch["attention_mask"].sum(axis=1).max())
    return {k: (v[:, :T] if v.ndim == 2 else v) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------

def _accuracy_counts(batch, details):
    """(MLM correct, MLM count, NSP correct, NSP count) of one batch."""
    labels = batch["labels"].reshape(-1)
    targets = labels[labels != -100]  # (M,) row-major, as details["mlm_logits"]
    mlm_correct = int((details["mlm_logits"].argmax(axis=-1) == targets).sum())
    nsp_correct = int((details["seq_relationship_logits"].argmax(axis=-1) == batch["next_sentence_label"]).sum())
    return mlm_correct, targets.size, nsp_correct, batch["next_sentence_label"].size


def evaluate(model, batches):
    """Held-out MLM loss/accuracy (per masked token) and NSP loss/accuracy (per pair), dropout off."""
    was_training = model.training
    model.eval()
    mlm_loss = nsp_loss = 0.0
    mlm_ok = mlm_n = nsp_ok = nsp_n = 0
    try:
        for batch in batches:
            _, _, details = model.loss_and_grads(
                batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], labels=batch["labels"],
                next_sentence_label=batch["next_sentence_label"], return_details=True)
            a, m, b, n = _accuracy_counts(batch, details)
            mlm_loss += details["mlm_loss"] * m  # the batch mean, weighted back to a sum
            nsp_loss += details["nsp_loss"] * n
            mlm_ok, mlm_n, nsp_ok, nsp_n = mlm_ok + a, mlm_n + m, nsp_ok + b, nsp_n + n
    finally:
        if was_training:
            model.train()
    return {"heldout_mlm_loss": mlm_loss / max(mlm_n, 1), "heldout_mlm_acc": mlm_ok / max(mlm_n, 1),
            "heldout_nsp_loss": nsp_loss / max(nsp_n, 1), "heldout_nsp_acc": nsp_ok / max(nsp_n, 1)}


# ---------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------

def save_checkpoint(out, model, tokenizer, optimizer, state, name=CHECKPOINT):
    """Write ``out/<name>/`` (default ``out/checkpoint/``) as a whole, atomically.

    Everything goes to ``out/checkpoint.new/`` first; then the old checkpoint is
    renamed to ``checkpoint.old``, the new one to ``checkpoint``, and the old one is
    deleted. A crash at any point leaves a complete checkpoint under ``checkpoint``
    or (between the two renames) under ``checkpoint.old``, which ``find_checkpoint``
    picks up. ``optimizer=None`` leaves out optimizer.safetensors (a model to use,
    not to resume: fine-tuning's ``best/``). trainer_state.json gets ``"files"``: the
    SHA-256 of every other file of the checkpoint (``checkpoint_hashes``), which
    ``--resume`` checks (``verify_checkpoint``).
    """
    from numpy_bert.weights import save_safetensors

    out = Path(out)
    final, new, old = out / name, out / (name + ".new"), out / (name + ".old")
    if new.exists():
        shutil.rmtree(new)
    new.mkdir(parents=True)
    model.save_pretrained(new)
    tokenizer.save_pretrained(new)
    if optimizer is not None:
        save_safetensors(optimizer.state_dict(), new / OPTIMIZER_FILE)
    state = {**state, "files": checkpoint_hashes(new)}  # what verify_checkpoint checks on --resume
    with atomic_write(new / STATE_FILE, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    _fsync_dir(new)
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(new, final)
    _fsync_dir(out)
    if old.exists():
        shutil.rmtree(old)


def checkpoint_hashes(directory):
    """{file name: SHA-256} of every file in a checkpoint directory but trainer_state.json."""
    return {p.name: file_sha256(p) for p in sorted(Path(directory).iterdir()) if p.name != STATE_FILE}


def _damaged(path, problem):
    return ValueError(f"{path}: {problem}; the checkpoint is damaged, so nothing was trained: resume from an "
                      f"intact copy of the run directory, or start a new run with another --out")


def verify_checkpoint(checkpoint, state):
    """Check the checkpoint's files against the SHA-256s its trainer_state.json records.

    A file missing, changed (a flipped bit, an edited vocab.txt) or not written by the
    run raises ValueError naming it. A checkpoint written before numpy_bert recorded the
    hashes (no ``"files"``) cannot be checked: it is resumed with a UserWarning saying so
    (its trainer_state.json fields are still checked), and its next save records them.
    """
    checkpoint = Path(checkpoint)
    state_path = checkpoint / STATE_FILE
    files = state.get("files")
    if files is None:
        warnings.warn(f"{state_path} records no SHA-256 of the checkpoint's files (it was written by an older "
                      f"numpy_bert), so they cannot be verified; resuming anyway. The next checkpoint this run "
                      f"saves records them", UserWarning, stacklevel=3)
        return
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and isinstance(digest, str) and len(digest) == 64 for name, digest in files.items()):
        raise _damaged(state_path, '"files" must map file names to SHA-256 hex digests')
    for name, digest in sorted(files.items()):
        if name != Path(name).name or name in (".", "..", STATE_FILE):
            raise _damaged(state_path, f'"files" names {name!r}, which is not a file of the checkpoint')
        path = checkpoint / name
        if not path.is_file():
            raise _damaged(path, f"the file is missing ({STATE_FILE} records it)")
        if file_sha256(path) != digest.lower():
            raise _damaged(path, f"the file's SHA-256 differs from the one {STATE_FILE} records: it changed "
                                 f"after the run saved it")
    extra = sorted(p.name for p in checkpoint.iterdir() if p.name not in files and p.name != STATE_FILE)
    if extra:
        also = f" (nor {', '.join(extra[1:])})" if extra[1:] else ""
        raise ValueError(f"{checkpoint / extra[0]}: the run did not write this file{also}: {STATE_FILE} does not "
                         f"record it; nothing was trained: move it out of the checkpoint, then resume")


def read_state_file(path):
    """A trainer_state.json as a dict; ValueError naming the file if it is not a JSON object."""
    path = Path(path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise _damaged(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise _damaged(path, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(state, dict):
        raise _damaged(path, f"it must hold a JSON object, not {type(state).__name__}")
    return state


def check_field(state, key, path, kind, minimum=None, maximum=None, optional=False):
    """state[key], checked: ``kind`` "int", "number", "str", "dict", "rng" (a numpy bit
    generator state) or "sha256"; ints and numbers within [minimum, maximum]. ``path`` and
    a dotted ``key`` ("data.position") name it in the ValueError."""
    where = key
    for part in key.split(".")[:-1]:
        state = state.get(part) if isinstance(state, dict) else None
    key = key.split(".")[-1]
    if not isinstance(state, dict) or key not in state:
        raise _damaged(path, f"the field {where!r} is missing")
    value = state[key]
    if value is None and optional:
        return value
    ok = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
          "str": lambda v: isinstance(v, str), "dict": lambda v: isinstance(v, dict),
          "sha256": lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v),
          "rng": _is_generator_state}[kind](value)
    if not ok:
        names = {"int": "an integer", "number": "a finite number", "str": "a string", "dict": "a JSON object",
                 "sha256": "a SHA-256 hex digest", "rng": "a numpy random generator state"}
        raise _damaged(path, f"the field {where!r} must be {names[kind]}{' or null' if optional else ''}, "
                             f"got {json.dumps(value)[:80]}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise _damaged(path, f"the field {where!r} is {value}, but must be {bounds}")
    return value


def _is_generator_state(value):
    try:
        np.random.default_rng(0).bit_generator.state = value
    except (TypeError, ValueError, KeyError, OverflowError):
        return False
    return True


def check_pretrain_state(state, path):
    """The fields of a pretraining trainer_state.json, their types and ranges (ValueError names the file)."""
    settings = check_field(state, "settings", path, "dict")
    preset = settings.get("preset")
    if preset not in PRESETS:
        raise _damaged(path, f"the field 'settings.preset' is {json.dumps(preset)[:40]}, not one of {sorted(PRESETS)}")
    reference = make_settings(preset)
    for key, default in reference.items():
        if key == "group_by_length" and key not in settings:
            continue  # runs started before the option existed: PairStream reads it as False
        if key == "time_budget":
            check_field(state, f"settings.{key}", path, "number", minimum=0, optional=True)
        elif isinstance(default, bool) or isinstance(default, str):
            if type(settings.get(key)) is not type(default):
                raise _damaged(path, f"the field 'settings.{key}' must be a {type(default).__name__}, got "
                                     f"{json.dumps(settings.get(key))[:40]}")
        else:
            check_field(state, f"settings.{key}", path, "int" if isinstance(default, int) else "number")
    try:
        make_settings(preset, settings["steps"], settings["seed"], settings["batch_size"], settings["lr"],
                      settings["warmup_steps"], settings["seq_len"], settings["eval_every"], settings["save_every"],
                      settings["log_every"], settings["time_budget"] or 0, settings["optimizer"])
    except ValueError as e:
        raise _damaged(path, f"its settings are not valid ({e})") from None
    total = check_field(state, "total_steps", path, "int", 1, settings["steps"])
    step = check_field(state, "step", path, "int", 0, total)
    check_field(state, "vocab_size", path, "int", 1)
    check_field(state, "corpus_sha256", path, "sha256")
    check_field(state, "dropout_rng", path, "rng")
    check_field(state, "data.epoch", path, "int", 0, step)
    check_field(state, "data.position", path, "int", 0, step * settings["batch_size"])
    check_field(state, "data.mask_rng", path, "rng")


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def find_checkpoint(out):
    """The run's complete checkpoint directory, or None (recovers an interrupted swap)."""
    out = Path(out)
    final, old = out / CHECKPOINT, out / (CHECKPOINT + ".old")
    if not (final / STATE_FILE).is_file() and (old / STATE_FILE).is_file():
        if final.exists():
            shutil.rmtree(final)
        os.replace(old, final)  # the crash came between the two renames of save_checkpoint
    return final if (final / STATE_FILE).is_file() else None


# ---------------------------------------------------------------------------------------
# metrics and curves
# ---------------------------------------------------------------------------------------

def write_metrics(path, records):
    with atomic_write(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_metrics(path):
    """The records of a metrics.jsonl ([] if there is none); ValueError naming the file and line
    for one that is not a JSON object with an integer "step"."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); it is damaged: restore it "
                         f"or delete it (the run's figures so far are then lost)") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}, line {number}: not valid JSON ({e.msg}); the file is damaged: restore "
                             f"it, or delete that line") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int) or isinstance(
                record.get("step"), bool):
            raise ValueError(f"{path}, line {number}: a record must be a JSON object with an integer "
                             f"\"step\"; the file is damaged: restore it, or delete that line")
        records.append(record)
    return records


def plot_curves(records, path, title="numpy_bert pretraining"):
    """Draw train and held-out losses and accuracies and the learning rate to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if "mlm_loss" in r]
    held = [r for r in records if "heldout_mlm_loss" in r]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = [("loss", "loss (cross-entropy, nats)"), ("acc", "accuracy")]
    for ax, (key, ylabel) in zip(axes[:2], panels):
        for task, colour in (("mlm", "tab:blue"), ("nsp", "tab:orange")):
            ax.plot([r["step"] for r in train], [r[f"{task}_{key}"] for r in train], color=colour,
                    alpha=0.5, label=f"{task.upper()} train")
            ax.plot([r["step"] for r in held], [r[f"heldout_{task}_{key}"] for r in held], "o-",
                    color=colour, label=f"{task.upper()} held-out")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(f"masked LM and next sentence {key}")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[2].plot([r["step"] for r in train], [r["lr"] for r in train], color="tab:green")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("learning rate")
    axes[2].set_title("learning rate (warmup, linear decay)")
    axes[2].grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)


def _duration(seconds):
    seconds = int(max(0, seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


# ---------------------------------------------------------------------------------------
# the steps of a run, in the order pretrain() takes them
# ---------------------------------------------------------------------------------------

def read_run_state(out, checkpoint, resume, check_state=check_pretrain_state):
    """The checkpoint's trainer_state.json when resuming, None for a new run.

    Refuses ``--resume`` where there is no checkpoint, and a new run where there is one.
    Resuming, the checkpoint's files are checked against their recorded SHA-256s
    (``verify_checkpoint``) and the state's fields by ``check_state(state, path)``
    (``check_pretrain_state``; finetune passes its own): a failure is a ValueError naming
    the file, before anything is trained.
    """
    if resume:
        if checkpoint is None:
            raise ValueError(f"nothing to resume: {out / CHECKPOINT / STATE_FILE} does not exist; "
                             "run without --resume to start a new run there")
        state = read_state_file(checkpoint / STATE_FILE)
        verify_checkpoint(checkpoint, state)
        check_state(state, checkpoint / STATE_FILE)
        return state
    if checkpoint is not None:
        step = read_state_file(checkpoint / STATE_FILE).get("step")
        raise ValueError(f"{out} already holds a run (checkpoint at step {step}); pass --resume to "
                         "continue it or choose another --out")
    return None


def check_resume(state, steps, seed, preset, overrides):
    """The settings of the run being resumed, checked against the options given with ``--resume``.

    Options that would change the run's arithmetic (--steps, --seed, --preset, --lr,
    --batch-size, ...) must be left out or equal the run's, else ValueError; a
    --time-budget is ignored (the run keeps its own); new --eval-every, --save-every and
    --log-every are taken.
    """
    settings = state["settings"]
    if steps is not None and steps != state["total_steps"]:
        raise ValueError(f"--steps {steps} differs from the run being resumed ({state['total_steps']} "
                         "steps); leave --steps out with --resume")
    intervals = ("eval_every", "save_every", "log_every")
    changed = {k: v for k, v in overrides.items() if v is not None and settings.get(k) != v
               and k not in intervals and k != "time_budget"}
    if changed or seed != settings["seed"] or preset != settings["preset"]:
        raise ValueError(f"--resume continues the run exactly as it was started; these options differ "
                         f"from it: {dict(changed, **({'seed': seed} if seed != settings['seed'] else {}))}"
                         f"{'' if preset == settings['preset'] else ' preset ' + preset}")
    for k in intervals:
        if overrides.get(k) is not None:
            settings[k] = overrides[k]
    return settings


def check_vocab_file(vocab):
    """Load ``--vocab`` as the run will (BertTokenizer, lower-cased): its errors name the
    user's file, not the copy in ``--out``."""
    from numpy_bert.tokenization import BertTokenizer

    BertTokenizer(os.fspath(vocab), do_lower_case=True)


def prepare_vocab(out, vocab, checkpoint, train_docs, settings, say):
    """Path of the run's vocab.txt: the checkpoint's when resuming, else ``--vocab`` copied to
    ``out/vocab.txt``, else a WordPiece vocabulary trained on the training documents there."""
    if checkpoint is not None:
        vocab_path = checkpoint / "vocab.txt"
        if vocab is not None and Path(vocab).read_bytes() != vocab_path.read_bytes():
            raise ValueError(f"--vocab {vocab} does not match the vocabulary of the checkpoint "
                             f"({vocab_path}); resume without --vocab or with that file")
        return vocab_path
    vocab_path = out / "vocab.txt"
    if vocab is not None:
        shutil.copyfile(vocab, vocab_path)
    else:
        t = time.time()
        build_vocab(train_docs, settings["vocab_size"], vocab_path)
        say(f"vocab: trained {settings['vocab_size']} WordPiece tokens in {time.time() - t:.1f}s -> {vocab_path}")
    return vocab_path


def prepare_data(train_docs, heldout_docs, tokenizer, settings, say):
    """Tokenize every sentence once; return the stream of training batches and the held-out batches."""
    from numpy_bert.data import Masking, tokenize_documents

    t = time.time()
    train_ids = tokenize_documents(train_docs, tokenizer)
    heldout_ids = tokenize_documents(heldout_docs, tokenizer)
    if len(train_ids) < 2 or len(heldout_ids) < 2:
        raise ValueError("after tokenization fewer than 2 training or 2 held-out documents have any tokens; "
                         "the corpus needs more text")
    masking = Masking(tokenizer, max_predictions_per_seq=settings["max_predictions_per_seq"])
    stream = PairStream(train_ids, tokenizer, masking, settings)
    eval_batches = heldout_batches(heldout_ids, tokenizer, masking, settings)
    n_tokens = sum(len(s) for d in train_ids for s in d)
    say(f"data: {n_tokens:,} training tokens, {sum(b['input_ids'].shape[0] for b in eval_batches)} held-out "
        f"pairs, tokenized in {time.time() - t:.1f}s")
    return stream, eval_batches


def restore_checkpoint(checkpoint, state, model, optimizer, stream):
    """Load a checkpoint into the run: the weights, the optimizer's moments, the dropout
    generator's state and the position in the data (epoch, offset, masking generator)."""
    from numpy_bert.weights import load_safetensors, load_state_dict

    if state["vocab_size"] != model.config.vocab_size:
        raise _damaged(checkpoint / STATE_FILE, f"the field 'vocab_size' is {state['vocab_size']}, but the "
                                                f"checkpoint's vocab.txt has {model.config.vocab_size} tokens")
    loaded = load_state_dict(checkpoint, model.config, "BertForPreTraining", np.float32)
    for name in model.params:
        model.params[name][...] = loaded[name]
    optimizer.load_state_dict(load_safetensors(checkpoint / OPTIMIZER_FILE))
    model.rng.bit_generator.state = state["dropout_rng"]
    try:
        stream.load_state(state["data"])
    except ValueError as e:
        raise _damaged(checkpoint / STATE_FILE, str(e)) from None


class Clock:
    """The wall clock of a run, for the time budget, elapsed_s and the ETA (tokens/s is per window).

    ``start`` is when pretrain() began (the budget counts vocab and data too);
    ``loop_start`` and ``loop_start_step`` are when and at which step this process's
    training loop began (after the step-0 evaluation, or at the resumed step);
    ``eval_seconds`` is how long the latest evaluation took.
    """

    RESERVE_S = 10.0  # seconds of the budget kept for the final evaluation, save and plot

    def __init__(self, start, time_budget):
        self.start = start
        self.budget_s = time_budget * 60 if time_budget else None
        self.loop_start, self.loop_start_step = start, 0
        self.eval_seconds = 0.0

    def start_loop(self, step):
        self.loop_start, self.loop_start_step = time.time(), step

    def over_budget(self):
        """True once the budget is spent but for RESERVE_S seconds (never without a budget)."""
        return self.budget_s is not None and time.time() - self.start > self.budget_s - self.RESERVE_S

    def eta_s(self, step, total_steps):
        """Seconds until total_steps, at this process's average speed so far."""
        steps_per_s = (step - self.loop_start_step) / max(time.time() - self.loop_start, 1e-9)
        return (total_steps - step) / max(steps_per_s, 1e-9)


def timed_evaluate(model, eval_batches, clock):
    """``evaluate`` on the held-out batches, its duration kept in ``clock.eval_seconds``."""
    t = time.time()
    held = evaluate(model, eval_batches)
    clock.eval_seconds = time.time() - t
    return held


# how train_step clips the gradients: google-research/bert's tf.clip_by_global_norm, or
# torch.nn.utils.clip_grad_norm_ (what HF's Trainer runs; it adds 1e-6 to the norm)
CLIPPING = {"global_norm": clip_by_global_norm, "torch": clip_grad_norm}


def train_step(model, optimizer, batch, lr, step, settings, out, records, log_norms=False):
    """One optimizer step on ``batch``; returns (loss, details, gradient norm before clipping).
    With ``log_norms``, details["layer_grad_norms"] holds the per-layer gradient norms
    before clipping (numpy_bert.norms.gradient_norms).

        loss, grads = model.loss_and_grads(**batch)  # dropout on; batch: the model's arguments
        clip_by_global_norm(grads, 1.0)              # settings["max_grad_norm"] if given
        optimizer.step(grads, lr)

    ``settings["clipping"]`` picks the clipping: "global_norm" (BERT's, the default) or
    "torch" (``optim.clip_grad_norm``, PyTorch's formula, as HF's Trainer clips: finetune).

    A NaN or infinite loss or gradient norm raises TrainingDiverged before the weights
    change: metrics.jsonl is written with the records so far and the last checkpoint is
    left as it is. ``step`` is the number of steps done before this one.
    """
    loss, grads, details = model.loss_and_grads(**batch, return_details=True)
    if log_norms:
        details["layer_grad_norms"] = gradient_norms(grads, model.config, model._prefix)
    clip = CLIPPING[settings.get("clipping", "global_norm")]
    norm = clip(grads, settings.get("max_grad_norm", 1.0))
    if not (math.isfinite(loss) and math.isfinite(norm)):
        write_metrics(out / "metrics.jsonl", records)
        last = find_checkpoint(out)
        where = (f"the last good checkpoint {last} (step {read_state_file(last / STATE_FILE).get('step')})"
                 f" is intact" if last else "no checkpoint had been written yet")
        raise TrainingDiverged(
            f"the loss became {loss} at step {step + 1} (gradient norm {norm}); stopped before updating the "
            f"weights; {where}. Start a new run with a lower --lr (now {settings['lr']}) or more "
            f"--warmup-steps (now {settings['warmup_steps']})")
    optimizer.step(grads, lr)
    return loss, details, norm


def new_window():
    """Sums over the steps since the last log line; a log record holds their averages."""
    return {"mlm_loss": 0.0, "nsp_loss": 0.0, "mlm_ok": 0, "mlm_n": 0, "nsp_ok": 0, "nsp_n": 0, "steps": 0,
            "tokens": 0, "start": time.time()}


def accumulate(window, batch, details):
    """Add one training step's losses, correct predictions and tokens to the window."""
    a, m, b, n = _accuracy_counts(batch, details)
    window["mlm_loss"] += details["mlm_loss"]
    window["nsp_loss"] += details["nsp_loss"]
    window["mlm_ok"] += a
    window["mlm_n"] += m
    window["nsp_ok"] += b
    window["nsp_n"] += n
    window["steps"] += 1
    window["tokens"] += int(batch["attention_mask"].sum())  # real tokens, padding not counted


def fit_time_budget(step, total_steps, settings, clock, say):
    """The step count that fits the time budget; ``total_steps`` as it is between estimates.

    With a budget, the run (and so the learning-rate decay) is sized from the average time
    per step so far, evaluations included: first CALIBRATION_STEPS steps into the loop,
    then again at every log line. Never more than the settings' steps, never fewer than
    one more step.
    """
    calibration_step = clock.loop_start_step + CALIBRATION_STEPS
    if clock.budget_s is None or step < calibration_step or (
            step != calibration_step and step % settings["log_every"] != 0):
        return total_steps
    per_step = (time.time() - clock.loop_start) / (step - clock.loop_start_step)
    if step - clock.loop_start_step < settings["eval_every"]:
        per_step += clock.eval_seconds / settings["eval_every"]  # no evaluation timed yet
    left = clock.budget_s - (time.time() - clock.start) - clock.eval_seconds - clock.RESERVE_S
    fits = min(settings["steps"], max(step + 1, step + int(left / per_step)))
    if step == calibration_step or abs(fits - total_steps) > 0.1 * total_steps:
        say(f"time budget {settings['time_budget']} min: {per_step:.2f}s per step, so {fits} steps in all")
    return fits


def log_record(step, lr, grad_norm, window, epoch, clock):
    """A metrics.jsonl record of the training figures: the window's averages and the wall clock."""
    now = time.time()
    k = window["steps"]
    return {"step": step, "mlm_loss": window["mlm_loss"] / k, "mlm_acc": window["mlm_ok"] / max(window["mlm_n"], 1),
            "nsp_loss": window["nsp_loss"] / k, "nsp_acc": window["nsp_ok"] / max(window["nsp_n"], 1),
            "lr": lr, "grad_norm": grad_norm, "epoch": epoch,
            "tokens_per_s": window["tokens"] / max(now - window["start"], 1e-9),
            "elapsed_s": now - clock.start}


def _heldout_text(record):
    return (f"MLM loss {record['heldout_mlm_loss']:.3f} acc {record['heldout_mlm_acc']:.3f} | "
            f"NSP loss {record['heldout_nsp_loss']:.3f} acc {record['heldout_nsp_acc']:.3f}")


def progress_line(record, total_steps):
    """The progress line of a log record (two lines when it holds held-out figures)."""
    line = (f"step {record['step']}/{total_steps} | MLM {record['mlm_loss']:.3f} acc {record['mlm_acc']:.3f} | "
            f"NSP {record['nsp_loss']:.3f} acc {record['nsp_acc']:.3f} | lr {record['lr']:.2e} | "
            f"{record['tokens_per_s']:,.0f} tok/s | ETA {_duration(record['eta_s'])}")
    if "heldout_mlm_loss" in record:
        line += f"\n  held-out: {_heldout_text(record)}"
    return line


def trainer_state(step, total_steps, settings, fingerprint, model, stream):
    """trainer_state.json: where the run is, its settings, and every generator's state."""
    return {"step": step, "total_steps": total_steps, "settings": settings, "vocab_size": model.config.vocab_size,
            "corpus_sha256": fingerprint, "dropout_rng": model.rng.bit_generator.state, "data": stream.state()}


def save_run(out, model, tokenizer, optimizer, state, records):
    """Write the checkpoint, then metrics.jsonl."""
    save_checkpoint(out, model, tokenizer, optimizer, state)
    write_metrics(out / "metrics.jsonl", records)


def summarize(records, step, total_steps, clock, out, say):
    """The summary pretrain() returns; says the run's last line."""
    held = [r for r in records if "heldout_mlm_loss" in r]
    summary = {"steps": step, "total_steps": total_steps, "wall_s": time.time() - clock.start,
               "first": held[0] if held else None, "last": held[-1] if held else None,
               "checkpoint": str(out / CHECKPOINT), "metrics": str(out / "metrics.jsonl"),
               "curves": str(out / "curves.png")}
    if held:
        ratio = held[-1]["heldout_mlm_loss"] / held[0]["heldout_mlm_loss"]
        say(f"done: {step} steps in {_duration(summary['wall_s'])}; held-out MLM loss "
            f"{held[0]['heldout_mlm_loss']:.3f} -> {held[-1]['heldout_mlm_loss']:.3f} ({ratio:.3f} of the start), "
            f"NSP acc {held[-1]['heldout_nsp_acc']:.3f}; checkpoint in {out / CHECKPOINT}")
    return summary


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

@holds_directory_lock
def pretrain(out, corpus=None, preset="tiny", steps=None, seed=0, vocab=None, resume=False, quiet=False,
             log_norms=False, **overrides):
    """Run (or with ``resume=True`` continue) a pretraining run in directory ``out``.

    ``log_norms``: per-layer gradient norms and activation RMS in each training record of
    metrics.jsonl, drawn to norms.png at the end (numpy_bert.norms).

    Keyword overrides: batch_size, lr, warmup_steps, seq_len, eval_every, save_every,
    log_every, time_budget (minutes; 0 = none), optimizer. Returns a summary dict
    (steps done, first and last held-out figures, wall time, paths).
    """
    from numpy_bert.model import BertForPreTraining
    from numpy_bert.tokenization import BertTokenizer

    start_time = time.time()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    out = Path(out)
    checkpoint = find_checkpoint(out) if out.exists() else None
    state = read_run_state(out, checkpoint, resume)  # None for a new run, whose checkpoint is None too
    if state is not None:
        settings = check_resume(state, steps, seed, preset, overrides)
    else:
        settings = make_settings(preset, steps, seed, **overrides)
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(start_time, settings.get("time_budget"))

    # ---- 1. corpus
    if vocab is not None:
        check_vocab_file(vocab)  # before the corpus is read, and naming the user's file
    documents = load_documents(corpus)
    fingerprint = corpus_fingerprint(documents)
    if state is not None and state["corpus_sha256"] != fingerprint:
        raise ValueError("the corpus differs from the one the run was started with (sha256 mismatch); "
                         "resume with the same --corpus")
    train_docs, heldout_docs = split_documents(documents, settings["heldout_fraction"], settings["seed"])
    say(f"corpus: {len(documents)} documents, {sum(len(d) for d in documents)} sentences "
        f"({len(train_docs)} to train, {len(heldout_docs)} held out)")

    # ---- 2. vocabulary, 3. data
    tokenizer = BertTokenizer(str(prepare_vocab(out, vocab, checkpoint, train_docs, settings, say)),
                              do_lower_case=True)
    stream, eval_batches = prepare_data(train_docs, heldout_docs, tokenizer, settings, say)

    # ---- 4. model and optimizer, from the checkpoint when resuming
    model = BertForPreTraining(_model_config(settings, len(tokenizer.vocab)), seed=settings["seed"])
    optimizer = make_optimizer(settings["optimizer"], model.params)
    step, total_steps, records = 0, settings["steps"], []
    if state is not None:
        restore_checkpoint(checkpoint, state, model, optimizer, stream)
        step, total_steps = state["step"], state["total_steps"]
        records = [r for r in read_metrics(out / "metrics.jsonl") if r["step"] <= step]
        say(f"resumed from {checkpoint} at step {step} of {total_steps}")
    model.train()
    if step == 0:
        held = timed_evaluate(model, eval_batches, clock)
        records.append({"step": 0, "lr": learning_rate(0, settings["lr"], settings["warmup_steps"], total_steps),
                        **held})
        say(f"step 0: held-out {_heldout_text(held)}")
        write_metrics(out / "metrics.jsonl", records)

    # ---- 5. train
    window = new_window()
    clock.start_loop(step)
    while step < total_steps:
        batch = stream.next_batch()
        lr = learning_rate(step, settings["lr"], settings["warmup_steps"], total_steps)
        _, details, grad_norm = train_step(model, optimizer, batch, lr, step, settings, out, records, log_norms)
        step += 1
        accumulate(window, batch, details)
        total_steps = fit_time_budget(step, total_steps, settings, clock, say)
        out_of_time = step < total_steps and clock.over_budget()
        last_step = step >= total_steps or out_of_time
        if step % settings["log_every"] == 0 or step % settings["eval_every"] == 0 or last_step:
            record = log_record(step, lr, grad_norm, window, stream.epoch, clock)
            if log_norms:
                record.update(layer_grad_norms=details["layer_grad_norms"],
                              layer_activation_rms=activation_rms(model, batch))
            if step % settings["eval_every"] == 0 or last_step:
                record.update(timed_evaluate(model, eval_batches, clock))
            record["eta_s"] = clock.eta_s(step, total_steps)
            records.append(record)
            write_metrics(out / "metrics.jsonl", records)
            say(progress_line(record, total_steps))
            window = new_window()
        if step % settings["save_every"] == 0 or last_step:
            save_run(out, model, tokenizer, optimizer,
                     trainer_state(step, total_steps, settings, fingerprint, model, stream), records)
        if out_of_time:
            say(f"time budget of {settings['time_budget']} min reached: stopped at step {step} of {total_steps}")
            break

    # ---- 6. the end: metrics, curves, summary
    write_metrics(out / "metrics.jsonl", records)
    plot_curves(records, out / "curves.png", title=f"numpy_bert pretraining, preset {settings['preset']}")
    if log_norms:
        plot_norms(records, out / "norms.png", title=f"numpy_bert pretraining, preset {settings['preset']}")
    return summarize(records, step, total_steps, clock, out, say)
