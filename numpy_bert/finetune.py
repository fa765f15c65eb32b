"""Fine-tune BERT on a task: ``numpy-bert finetune``.

The command's options are in ``numpy_bert.cli``; the run is ``finetune()``, at the end
of this file. Three tasks, each with HF's model class and column names:

    task                   model class                      columns
    text-classification    BertForSequenceClassification    text, [text_pair], label
    token-classification   BertForTokenClassification       tokens, tags
    question-answering     BertForQuestionAnswering         question, context, answers

The loop, one step (HF Trainer's recipe):

    batch = the next batch_size examples of this epoch's shuffle, padded to the longest
    loss, grads = model.loss_and_grads(**batch)     # dropout on
    clip_grad_norm(grads, 1.0)                      # PyTorch's clip_grad_norm_, as HF's Trainer
    optimizer.step(grads, lr=learning_rate(step))   # AdamW, warmup + linear decay

and at the end of every epoch (and every ``--eval-every`` steps) an evaluation on the
eval file: accuracy and macro-F1 (classification), entity F1 (tokens), exact match and
F1 (QA). The best evaluation so far is saved in ``OUT/best/`` (HF layout: what
``AutoModelFor...from_pretrained`` and ``pipeline(...)`` load).

Defaults are HF ``TrainingArguments``' (lr 5e-5, 3 epochs, batch 8, weight decay 0,
no warmup (``warmup_steps``: steps, or below 1 a fraction of all steps, as in
transformers 5), max_grad_norm 1.0, seed 42, AdamW with eps 1e-8) and the example scripts'
(max_length 128 as run_glue/run_ner, 384 with doc_stride 128 for QA as run_qa; at most the
model's max_position_embeddings, as run_glue clamps it; doc_stride by default
min(max_length // 2, 128), the question-answering pipeline's rule).

Data files are CSV with a header row or JSON Lines (``.csv`` / ``.jsonl``, ``.json``;
any other name is sniffed: a first character ``{`` means JSON Lines). In CSV, the
list columns (``tokens``, ``tags``) are JSON lists (``["EU", "rejects"]``) or
space-separated words, and ``answers`` is a JSON object. Labels and tags are names
(mapped to ids in sorted order, as run_glue and run_ner do, and written to the
saved config.json's id2label/label2id; a model whose config already names its labels
keeps its mapping) or integer ids. Bad input raises ``DataError`` naming the file,
the line and the column.

Every random choice has its own generator derived from ``--seed``: the new head's
init ``[seed]`` (from_pretrained), dropout ``[seed, 1]`` (the model's rng), the
shuffle of epoch e ``[seed, 2, e]``. The position in the data is the step number
alone (epoch = step // steps_per_epoch), so ``OUT/checkpoint/`` (weights, AdamW's
moments, the dropout generator's state in trainer_state.json) lets ``--resume``
continue bit for bit.

To run the same recipe elsewhere (benchmarks/bench_finetune.py feeds PyTorch with it):
``make_settings`` -> ``prepare_task_data`` (examples, labels, features) ->
``training_schedule`` -> ``iterate_batches(data.train_features, ..., epoch)`` per epoch,
the learning rate from ``optim.learning_rate``; ``load_model`` gives the initial weights.

Dimension key: B batch, T tokens, K labels.
"""

import csv
import hashlib
import io
import json
import math
import re
import time
import warnings
from pathlib import Path

import numpy as np

from numpy_bert.layers import cross_entropy_forward
from numpy_bert.norms import activation_rms, plot_norms
from numpy_bert.optim import learning_rate, make_optimizer
from numpy_bert.train import (CHECKPOINT, OPTIMIZER_FILE, STATE_FILE, Clock, _duration, check_time_budget,
                              find_checkpoint, read_metrics, read_run_state, save_checkpoint, train_step,
                              write_metrics)
from numpy_bert.utils import holds_directory_lock

TASKS = {
    "text-classification": "BertForSequenceClassification",
    "token-classification": "BertForTokenClassification",
    "question-answering": "BertForQuestionAnswering",
}
COLUMNS = {  # required columns, optional columns
    "text-classification": (("text", "label"), ("text_pair",)),
    "token-classification": (("tokens", "tags"), ()),
    "question-answering": (("question", "context", "answers"), ("id",)),
}
# the eval metric that picks OUT/best/ (greater is better)
BEST_METRIC = {"text-classification": "eval_accuracy", "token-classification": "eval_f1",
               "question-answering": "eval_f1"}
BEST = "best"
IGNORE_INDEX = -100

# HF TrainingArguments' defaults, and the example scripts' lengths
DEFAULTS = dict(epochs=3, lr=5e-5, batch_size=8, max_length=None, seed=42, warmup_steps=0,
                weight_decay=0.0, max_grad_norm=1.0, clipping="torch", doc_stride=None, max_answer_length=30,
                log_every=10, eval_every=None, save_every=500, max_train_samples=None,
                max_eval_samples=None, eval_batch_size=None, time_budget=None)
MAX_LENGTH = {"text-classification": 128, "token-classification": 128, "question-answering": 384}
# settings that --resume may change (the rest would change the run's arithmetic)
RESUME_MAY_CHANGE = ("log_every", "eval_every", "save_every", "time_budget", "eval_batch_size")


class DataError(ValueError):
    """A data file is malformed; the message names the file, the line and the column."""


# ---------------------------------------------------------------------------------------
# reading data files
# ---------------------------------------------------------------------------------------

def _where(path, line, column=None):
    return f"{path}, line {line}" + ("" if column is None else f", column {column!r}")


def file_format(path, text):
    """"csv" or "jsonl": by the extension, else sniffed (JSON Lines starts with '{')."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def read_records(path):
    """The rows of a CSV (with header) or JSON Lines file: ("csv" | "jsonl", [(line number, dict)]).

    The line number is where the row starts (1 = the CSV header). Raises DataError for
    an empty file, a file of only a header, a line that is not a JSON object, a CSV
    row with more fields than the header.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"data file {path} is a directory, not a file (CSV with a header, or JSON Lines)")
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); save it as UTF-8") from None
    if not text.strip():
        raise DataError(f"{path}, line 1: the file is empty; it needs a CSV header and one example per row, "
                        "or one JSON object per line")
    records = []
    if file_format(path, text) == "jsonl":
        if text.lstrip().startswith("["):
            raise DataError(f"{path}, line 1: a JSON array; write one JSON object per line (JSON Lines)")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{_where(path, number)}: not valid JSON ({exc}); JSON Lines needs one "
                                "object per line") from None
            if not isinstance(record, dict):
                raise DataError(f"{_where(path, number)}: a JSON {type(record).__name__}, not an object "
                                "with the columns as keys")
            records.append((number, record))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames or not any(name.strip() for name in reader.fieldnames):
            raise DataError(f"{path}, line 1: no CSV header (a first row naming the columns)")
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise DataError(f"{_where(path, start)}: {len(reader.fieldnames) + len(row[None])} fields, but "
                                f"the header has {len(reader.fieldnames)}; quote fields holding commas")
            if any(v not in (None, "") for v in row.values()):
                records.append((start, row))
            start = reader.line_num + 1
    if not records:
        raise DataError(f"{path}, line 1: no examples (the file has a header only or blank lines)")
    return file_format(path, text), records


def _cell_list(value, path, line, column):
    """A list column: a JSON list, or (CSV) a JSON-encoded list or space-separated words."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except ValueError as exc:
                raise DataError(f"{_where(path, line, column)}: not a valid JSON list ({exc})") from None
        else:
            value = stripped.split()
    if not isinstance(value, list):
        raise DataError(f"{_where(path, line, column)}: expected a list, got {type(value).__name__}")
    return value


def _text(record, column, path, line, required=True):
    value = record.get(column)
    if value is None or value == "":
        if required:
            raise DataError(f"{_where(path, line, column)}: empty; every example needs a {column}")
        return None
    if not isinstance(value, str):
        raise DataError(f"{_where(path, line, column)}: expected text, got {type(value).__name__} {value!r}")
    return value


def _answers(record, path, line):
    """SQuAD's answers {"text": [...], "answer_start": [...]}, each checked against the context."""
    value = record["answers"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise DataError(f"{_where(path, line, 'answers')}: not valid JSON ({exc}); write "
                            '{"text": ["..."], "answer_start": [0]}') from None
    if not isinstance(value, dict) or "text" not in value or "answer_start" not in value:
        raise DataError(f"{_where(path, line, 'answers')}: expected an object "
                        '{"text": [...], "answer_start": [...]} as in SQuAD')
    texts, starts = value["text"], value["answer_start"]
    texts = texts if isinstance(texts, list) else [texts]
    starts = starts if isinstance(starts, list) else [starts]
    if len(texts) != len(starts) or not texts:
        raise DataError(f"{_where(path, line, 'answers')}: {len(texts)} text(s) and {len(starts)} "
                        "answer_start(s); give one start per answer text, and at least one answer")
    context = record["context"]
    for k, (text, start) in enumerate(zip(texts, starts)):
        if not isinstance(text, str) or not text or isinstance(start, bool) or not isinstance(start, int):
            raise DataError(f"{_where(path, line, 'answers')}: answer {k} needs a non-empty text and an "
                            f"integer answer_start, got {text!r} at {start!r}")
        if context[start:start + len(text)] != text:
            found = context.find(text)
            hint = (f"; it occurs at {found}" if found >= 0 else "; the context does not contain it")
            raise DataError(f"{_where(path, line, 'answers')}: answer {k} {text!r} is not at answer_start "
                            f"{start} in the context (which has {context[start:start + len(text)]!r} there)"
                            f"{hint}; answer_start counts characters from 0")
    return {"text": texts, "answer_start": starts}


def read_examples(path, task):
    """The examples of a data file for ``task``: a list of dicts, each with its "line".

    text-classification: {"text", "text_pair" (or None), "label"}; token-classification:
    {"tokens", "tags"} (lists of the same length); question-answering: {"id", "question",
    "context", "answers"}. Labels and tags are kept as they are in the file (names or
    ids); ``label_maps`` and the feature functions turn them into ids.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    required, optional = COLUMNS[task]
    fmt, records = read_records(path)
    examples = []
    for line, record in records:
        missing = [c for c in required if c not in record]
        if missing:
            where = 1 if fmt == "csv" else line   # a CSV's columns are its header's
            raise DataError(f"{_where(path, where, missing[0])}: no column {missing[0]!r} (the columns are "
                            f"{', '.join(repr(c) for c in record if c is not None)}); {task} needs "
                            f"{', '.join(required)}" + (f", optionally {', '.join(optional)}" if optional else ""))
        if task == "text-classification":
            label = record["label"]
            if label is None or label == "":
                raise DataError(f"{_where(path, line, 'label')}: empty; every example needs a label")
            if isinstance(label, (list, dict, float, bool)) or (isinstance(label, str) and _FLOAT.match(label)):
                raise DataError(f"{_where(path, line, 'label')}: {label!r}; numpy-bert finetune trains single-label "
                                "classification: a label is one name or one integer id (multi-label lists and "
                                "regression targets are not supported)")
            examples.append({"line": line, "text": _text(record, "text", path, line),
                             "text_pair": _text(record, "text_pair", path, line, required=False),
                             "label": label})
        elif task == "token-classification":
            tokens = _cell_list(record["tokens"], path, line, "tokens")
            tags = _cell_list(record["tags"], path, line, "tags")
            if not tokens:
                raise DataError(f"{_where(path, line, 'tokens')}: no tokens")
            if not all(isinstance(t, str) and t.strip() for t in tokens):
                raise DataError(f"{_where(path, line, 'tokens')}: every token must be a non-empty string")
            if len(tags) != len(tokens):
                raise DataError(f"{_where(path, line, 'tags')}: {len(tags)} tags for {len(tokens)} tokens; "
                                "give one tag per token")
            examples.append({"line": line, "tokens": tokens, "tags": tags})
        else:
            example = {"line": line, "id": str(record.get("id") or line),
                       "question": _text(record, "question", path, line),
                       "context": _text(record, "context", path, line)}
            example["answers"] = _answers({**record, "context": example["context"]}, path, line)
            examples.append(example)
    return examples


def file_fingerprint(*paths):
    """sha256 of the data files' bytes: --resume checks it trains on the same data."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# labels: names or ids, the model's mapping or the data's
# ---------------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"\s*[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)\s*\Z")  # 0.5, 1., 2e-3: not ids


def _is_id(value):
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)) or \
        (isinstance(value, str) and bool(_INT.match(value.strip())))


def _has_named_labels(config):
    """True when config.json's id2label names the labels (not HF's default LABEL_0, LABEL_1, ...)."""
    id2label = config.get("id2label") or {}
    return bool(id2label) and any(str(v) != f"LABEL_{k}" for k, v in id2label.items())


def _head_rows(model_dir, task):
    """Rows of the checkpoint's classifier (its num_labels), or None without one."""
    from numpy_bert.weights import read_safetensors_header

    path = Path(model_dir) / "model.safetensors"
    if task == "question-answering" or not path.is_file():
        return None
    entries, _ = read_safetensors_header(path)
    entry = entries.get("classifier.weight")                       # (dtype, (K, H))
    return None if entry is None else int(entry[1][0])


def label_maps(values, config, head_rows=None):
    """(id2label, label2id) for the labels seen in training (``values``) and a model config.

    - The config names its labels (a fine-tuned checkpoint): its mapping is kept.
    - The values are integer ids: labels 0..K-1 with HF's names LABEL_k, K = the
      checkpoint head's rows if it has a head, else the largest id + 1 (at least 2).
    - The values are names: sorted, numbered from 0 (run_glue and run_ner sort too).
    """
    if _has_named_labels(config):
        id2label = {int(k): str(v) for k, v in config["id2label"].items()}
    elif all(_is_id(v) for v in values):
        K = head_rows or max(2, max(int(v) for v in values) + 1)
        id2label = {k: f"LABEL_{k}" for k in range(K)}
    else:
        id2label = dict(enumerate(sorted({str(v) for v in values})))
    return id2label, {name: k for k, name in id2label.items()}


def label_to_id(value, id2label, label2id, path, line, column):
    """The id of one label (a name in label2id, or an id below num_labels), else DataError."""
    if isinstance(value, str) and value in label2id:
        return label2id[value]
    if _is_id(value) and not all(_is_id(name) for name in label2id):
        k = int(value)
        if 0 <= k < len(id2label):
            return k
        raise DataError(f"{_where(path, line, column)}: label {value!r} is outside num_labels="
                        f"{len(id2label)} (ids 0..{len(id2label) - 1}: {id2label})")
    if not isinstance(value, (str, int, np.integer)) or isinstance(value, bool):
        raise DataError(f"{_where(path, line, column)}: a label must be a name or an integer id, got {value!r}")
    raise DataError(f"{_where(path, line, column)}: label {value!r} is not in label2id {label2id}; the labels "
                    "come from the training file, or from the model's config.json when it names them: fix the "
                    "label, add examples of it to the training file, or (a model with named labels) pass "
                    "--ignore-mismatched-sizes to train a new head on the training file's labels")


# ---------------------------------------------------------------------------------------
# features: examples -> token ids and targets
# ---------------------------------------------------------------------------------------

def classification_features(examples, tokenizer, max_length, label2id, id2label, path):
    """[{"input_ids", "token_type_ids", "labels": int}], one per example, truncated to max_length."""
    features = []
    for ex in examples:
        enc = tokenizer(ex["text"], ex["text_pair"], truncation=True, max_length=max_length)
        features.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                         "labels": label_to_id(ex["label"], id2label, label2id, path, ex["line"], "label")})
    return features


def token_features(examples, tokenizer, max_length, label2id, id2label, path):
    """One feature per sentence, labels per token as HF's run_ner (label_all_tokens=False):
    the tag id on each word's first sub-token, -100 on its other sub-tokens and on
    [CLS]/[SEP]. Words cut off by max_length are not scored."""
    from numpy_bert.metrics import get_entities

    features, checked = [], set()
    for ex in examples:
        tag_ids = [label_to_id(t, id2label, label2id, path, ex["line"], "tags") for t in ex["tags"]]
        for tag, k in zip(ex["tags"], tag_ids):
            if k not in checked:  # entity F1 needs IOB names: say so now, not after an epoch
                try:
                    get_entities([id2label[k]])
                except ValueError:
                    raise DataError(
                        f"{_where(path, ex['line'], 'tags')}: tag {tag!r} (label {id2label[k]!r}) is not an IOB "
                        "tag; entity F1 reads 'O' or B-, I-, E-, S- and the entity type (B-PER, I-LOC): "
                        + ("write the tags as names, or use a model whose config.json's id2label names them"
                           if _is_id(tag) else "rename the tag")) from None
                checked.add(k)
        enc = tokenizer(ex["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        labels, previous = [], None
        for word in enc.word_ids():
            labels.append(IGNORE_INDEX if word is None or word == previous else tag_ids[word])
            previous = word
        features.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                         "labels": labels})
    return features


def qa_features(examples, tokenizer, max_length, doc_stride, training):
    """HF run_qa's ``prepare_train_features`` / ``prepare_validation_features``.

    Each (question, context) becomes windows of at most max_length tokens,
    ``[CLS] question [SEP] context piece [SEP]``, the context pieces overlapping by
    doc_stride tokens. Training windows get the answer's first and last token
    (start_positions, end_positions) from the offsets, or the [CLS] index 0 when the
    answer is not wholly inside the window. Evaluation windows keep "example" (the
    index of their example) and "offsets" (character spans, None outside the context).
    """
    enc = tokenizer([ex["question"].lstrip() for ex in examples], [ex["context"] for ex in examples],
                    truncation="only_second", max_length=max_length, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    features = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        input_ids = enc["input_ids"][i]
        sequence_ids = enc.sequence_ids(i)
        example = examples[enc["overflow_to_sample_mapping"][i]]
        feature = {"input_ids": input_ids, "token_type_ids": enc["token_type_ids"][i]}
        if training:
            cls_index = input_ids.index(tokenizer.cls_token_id)
            start_char = example["answers"]["answer_start"][0]
            end_char = start_char + len(example["answers"]["text"][0])
            first = sequence_ids.index(1)                                  # the window's context tokens
            last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
            if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
                start = end = cls_index                                    # answer outside the window
            else:
                while first < len(offsets) and sequence_ids[first] == 1 and offsets[first][0] <= start_char:
                    first += 1
                start = first - 1
                while offsets[last][1] >= end_char:
                    last -= 1
                end = last + 1
            feature.update(start_positions=start, end_positions=end)
        else:
            feature["example"] = enc["overflow_to_sample_mapping"][i]
            feature["offsets"] = [tuple(o) if s == 1 else None for o, s in zip(offsets, sequence_ids)]
        features.append(feature)
    return features


# ---------------------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------------------

MODEL_KEYS = ("input_ids", "token_type_ids", "attention_mask", "labels", "start_positions", "end_positions")


def collate(features, pad_token_id=0):
    """Features -> the model's arguments as arrays, padded to the longest row (dynamic padding).

    input_ids / token_type_ids / attention_mask (B, T) int64; "labels" (B,) for
    classification, (B, T) padded with -100 for token classification;
    "start_positions" / "end_positions" (B,) for QA.
    """
    B, T = len(features), max(len(f["input_ids"]) for f in features)
    batch = {"input_ids": np.full((B, T), pad_token_id, dtype=np.int64),         # (B, T)
             "token_type_ids": np.zeros((B, T), dtype=np.int64),                # (B, T)
             "attention_mask": np.zeros((B, T), dtype=np.int64)}                # (B, T)
    for b, f in enumerate(features):
        n = len(f["input_ids"])
        batch["input_ids"][b, :n] = f["input_ids"]
        batch["token_type_ids"][b, :n] = f["token_type_ids"]
        batch["attention_mask"][b, :n] = 1
    first = features[0]
    if "labels" in first and isinstance(first["labels"], list):
        batch["labels"] = np.full((B, T), IGNORE_INDEX, dtype=np.int64)        # (B, T)
        for b, f in enumerate(features):
            batch["labels"][b, :len(f["labels"])] = f["labels"]
    for key in ("labels", "start_positions", "end_positions"):
        if key in first and key not in batch:
            batch[key] = np.array([f[key] for f in features], dtype=np.int64)  # (B,)
    return batch


def epoch_order(n, seed, epoch):
    """The order of the n training features in epoch ``epoch``: a permutation from rng [seed, 2, epoch]."""
    return np.random.default_rng([seed, 2, epoch]).permutation(n)


def steps_per_epoch(n, batch_size):
    return math.ceil(n / batch_size)


def iterate_batches(features, batch_size, seed, epoch, pad_token_id=0, start=0):
    """The training batches of one epoch, from batch number ``start`` on (for --resume).

    The features in ``epoch_order``, cut into batches of ``batch_size`` (the last one
    smaller, as HF's DataLoader with drop_last=False), each padded to its longest row.
    benchmarks/bench_finetune.py feeds PyTorch these same batches.
    """
    order = epoch_order(len(features), seed, epoch)
    for i in range(start * batch_size, len(features), batch_size):
        yield collate([features[k] for k in order[i:i + batch_size]], pad_token_id)


def eval_batches(features, batch_size, pad_token_id=0):
    """(indices, batch) over the features sorted by length (less padding), every feature once."""
    order = sorted(range(len(features)), key=lambda k: len(features[k]["input_ids"]))
    for i in range(0, len(order), batch_size):
        chosen = order[i:i + batch_size]
        batch = collate([features[k] for k in chosen], pad_token_id)
        yield chosen, {k: v for k, v in batch.items() if k in ("input_ids", "token_type_ids", "attention_mask")}


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------

def _forward_all(model, features, batch_size, pad_token_id):
    """The model's outputs (dropout off) for every feature, in feature order: {key: [array per feature]}."""
    was_training = model.training
    model.eval()
    outputs = {}
    try:
        for chosen, batch in eval_batches(features, batch_size, pad_token_id):
            result = model(**batch)
            lengths = batch["attention_mask"].sum(axis=1)                           # (B,)
            for key in ("logits", "start_logits", "end_logits"):
                if key in result:
                    column = outputs.setdefault(key, [None] * len(features))
                    per_token = result[key].ndim >= 2 and key != "logits" or result[key].ndim == 3
                    for row, k in enumerate(chosen):   # per-token outputs lose their padding
                        column[k] = result[key][row, :lengths[row]] if per_token else result[key][row]
    finally:
        if was_training:
            model.train()
    return outputs


def evaluate_classification(model, features, batch_size, pad_token_id, id2label):
    """eval_loss (mean cross-entropy), eval_accuracy and eval_macro_f1 (numpy_bert.metrics)."""
    from numpy_bert.metrics import classification_metrics

    logits = np.stack(_forward_all(model, features, batch_size, pad_token_id)["logits"])   # (N, K)
    labels = np.array([f["labels"] for f in features])                                     # (N,)
    loss = float(cross_entropy_forward(logits.astype(np.float64), labels)[0])            # mean over N
    scores = classification_metrics(labels.tolist(), logits.argmax(axis=-1).tolist(), len(id2label))
    return {"eval_loss": loss, **{f"eval_{k}": float(v) for k, v in scores.items()}}


def evaluate_tokens(model, features, batch_size, pad_token_id, id2label):
    """eval_loss and seqeval-style entity precision/recall/F1 over the scored sub-tokens."""
    from numpy_bert.metrics import entity_f1

    logits = _forward_all(model, features, batch_size, pad_token_id)["logits"]
    true_tags, pred_tags, nll, count = [], [], 0.0, 0
    for f, row in zip(features, logits):                   # row (T, K)
        labels = np.array(f["labels"])
        keep = labels != IGNORE_INDEX
        if keep.any():   # the mean over this row's scored sub-tokens, times their number
            nll += float(cross_entropy_forward(row[keep].astype(np.float64), labels[keep])[0]) * int(keep.sum())
        count += int(keep.sum())
        true_tags.append([id2label[int(k)] for k in labels[keep]])
        pred_tags.append([id2label[int(k)] for k in row[keep].argmax(axis=-1)])
    scores = entity_f1(true_tags, pred_tags)
    return {"eval_loss": nll / max(count, 1), **{f"eval_{k}": float(v) for k, v in scores.items()}}


def evaluate_qa(model, features, examples, batch_size, pad_token_id, max_answer_length=30):
    """SQuAD exact match and F1 (0..100, numpy_bert.metrics.squad_metrics) of each example's answer.

    Each window's best span is ``numpy_bert.pipelines.best_spans``' (the question-answering
    pipeline's scoring: p_start * p_end, softmax over the window's context tokens and
    [CLS], s <= e < s + max_answer_length; within a window that is the span of the
    largest start + end logit, which run_qa's postprocessing takes too); an example's
    answer is the best-scoring span over its windows (probabilities compared, as the
    pipeline does; run_qa compares the logit sums), cut from the context at the tokens'
    offsets.
    """
    from numpy_bert.metrics import squad_metrics
    from numpy_bert.pipelines import best_spans

    outputs = _forward_all(model, features, batch_size, pad_token_id)
    best = [None] * len(examples)                  # (score, answer text) per example
    for f, start_logits, end_logits in zip(features, outputs["start_logits"], outputs["end_logits"]):
        offsets = f["offsets"][:len(start_logits)]
        context_mask = np.array([o is not None for o in offsets])                  # (T,)
        spans, _ = best_spans(start_logits, end_logits, context_mask, top_k=1, max_answer_len=max_answer_length)
        k = f["example"]
        if spans and (best[k] is None or spans[0][2] > best[k][0]):
            start, end, score = spans[0]
            best[k] = (score, examples[k]["context"][offsets[start][0]:offsets[end][1]])
    predictions = [b[1] if b else "" for b in best]
    scores = squad_metrics(predictions, [ex["answers"]["text"] for ex in examples])
    return {f"eval_{k}": float(v) for k, v in scores.items()}


# ---------------------------------------------------------------------------------------
# the data of a run
# ---------------------------------------------------------------------------------------

class TaskData:
    """The training and eval examples and features of a run, with the label mapping.

    ``train_features`` feed ``iterate_batches``; ``evaluate(model)`` scores the model
    on the eval file. Built by ``prepare_task_data`` (benchmarks/bench_finetune.py
    uses it too).
    """

    def __init__(self, task, train_examples, eval_examples, train_features, eval_features, id2label,
                 label2id, pad_token_id, settings):
        self.task, self.settings = task, settings
        self.train_examples, self.eval_examples = train_examples, eval_examples
        self.train_features, self.eval_features = train_features, eval_features
        self.id2label, self.label2id, self.pad_token_id = id2label, label2id, pad_token_id

    def evaluate(self, model):
        size = self.settings["eval_batch_size"] or self.settings["batch_size"]
        if self.task == "text-classification":
            return evaluate_classification(model, self.eval_features, size, self.pad_token_id, self.id2label)
        if self.task == "token-classification":
            return evaluate_tokens(model, self.eval_features, size, self.pad_token_id, self.id2label)
        return evaluate_qa(model, self.eval_features, self.eval_examples, size, self.pad_token_id,
                           self.settings["max_answer_length"])


def prepare_task_data(task, train, eval, tokenizer, model_config, settings, head_rows=None):
    """Read both files, fix the label mapping (from the training labels and ``model_config``,
    config.json's dict), and turn the examples into features."""
    train_examples = read_examples(train, task)[:settings["max_train_samples"]]
    eval_examples = read_examples(eval, task)[:settings["max_eval_samples"]]
    max_length = settings["max_length"]
    id2label = label2id = None
    if task == "question-answering":
        train_features = qa_features(train_examples, tokenizer, max_length, settings["doc_stride"], True)
        eval_features = qa_features(eval_examples, tokenizer, max_length, settings["doc_stride"], False)
    else:
        column = "label" if task == "text-classification" else "tags"
        values = [ex[column] for ex in train_examples]
        if column == "tags":
            values = [tag for tags in values for tag in tags]
        id2label, label2id = label_maps(values, model_config, head_rows)
        make = classification_features if task == "text-classification" else token_features
        train_features = make(train_examples, tokenizer, max_length, label2id, id2label, train)
        eval_features = make(eval_examples, tokenizer, max_length, label2id, id2label, eval)
    return TaskData(task, train_examples, eval_examples, train_features, eval_features, id2label, label2id,
                    tokenizer.pad_token_id, settings)


# ---------------------------------------------------------------------------------------
# settings, model, checkpoints
# ---------------------------------------------------------------------------------------

def make_settings(task, max_positions=None, **overrides):
    """DEFAULTS with the given overrides (None = default), checked. Returns a dict (JSON-able).

    ``max_positions``: the model's max_position_embeddings; a longer max_length is cut to
    it with a warning (run_glue does the same).
    """
    if task not in TASKS:
        raise ValueError(f"unknown --task {task!r}; choose one of {', '.join(TASKS)}")
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"finetune() got unknown settings {sorted(unknown)}")
    s = dict(DEFAULTS, task=task)
    s.update({k: v for k, v in overrides.items() if v is not None})
    if s["max_length"] is None:
        s["max_length"] = MAX_LENGTH[task]
    if max_positions and isinstance(s["max_length"], int) and s["max_length"] > max_positions:
        warnings.warn(f"max_length {s['max_length']} is longer than the model's max_position_embeddings "
                      f"({max_positions}); using max_length={max_positions}", UserWarning, stacklevel=3)
        s["max_length"] = max_positions
    if s["doc_stride"] is None and isinstance(s["max_length"], int):
        s["doc_stride"] = min(s["max_length"] // 2, 128)
    for key in ("epochs", "batch_size", "log_every", "save_every", "max_length", "doc_stride",
                "max_answer_length", "eval_every", "max_train_samples", "max_eval_samples", "eval_batch_size"):
        if s[key] is not None and (not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < 1):
            raise ValueError(f"--{key.replace('_', '-')} must be a positive integer, got {s[key]!r}")
    if not (s["lr"] > 0 and math.isfinite(s["lr"])):
        raise ValueError(f"--lr must be a positive number, got {s['lr']}")
    w = s["warmup_steps"]
    if not (0 <= w < 1 or (w >= 1 and float(w).is_integer())):
        raise ValueError(f"--warmup-steps must be a number of steps (an integer >= 1) or a fraction of all "
                         f"steps in [0, 1), as in transformers 5; got {w}")
    if not s["weight_decay"] >= 0:
        raise ValueError(f"--weight-decay must be >= 0, got {s['weight_decay']}")
    if task == "question-answering" and not s["doc_stride"] < s["max_length"] - 4:
        raise ValueError(f"--doc-stride {s['doc_stride']} must be well below --max-length {s['max_length']}: "
                         "the windows overlap by doc_stride tokens")
    if s["time_budget"] is not None:
        check_time_budget(s["time_budget"])
        s["time_budget"] = s["time_budget"] or None
    return s


def warmup_step_count(warmup_steps, total_steps):
    """transformers 5's ``TrainingArguments.get_warmup_steps``: ``warmup_steps`` >= 1 is a
    number of steps, below 1 a fraction of all steps (rounded up)."""
    return int(warmup_steps) if warmup_steps >= 1 else math.ceil(total_steps * warmup_steps)


def training_schedule(settings, n_features):
    """(steps per epoch, total steps, warmup steps) of a run over ``n_features`` training features.

    The learning rate of update ``step`` (0 for the first) is then
    ``optim.learning_rate(step, settings["lr"], warmup_steps, total_steps)``: HF's linear
    schedule with warmup.
    """
    spe = steps_per_epoch(n_features, settings["batch_size"])
    total_steps = settings["epochs"] * spe
    return spe, total_steps, warmup_step_count(settings["warmup_steps"], total_steps)


def check_resume(state, settings):
    """The run's settings, with what --resume may change (intervals, time budget) taken from
    ``settings``; ValueError if anything else differs."""
    kept = state["settings"]
    changed = {k: v for k, v in settings.items() if k not in RESUME_MAY_CHANGE and kept.get(k) != v}
    if changed:
        raise ValueError(f"--resume continues the run exactly as it was started; these options differ from it: "
                         f"{changed} (the run has {({k: kept.get(k) for k in changed})}); leave them out")
    return dict(kept, **{k: settings[k] for k in RESUME_MAY_CHANGE})


def check_finetune_state(state, path):
    """The fields of a fine-tuning trainer_state.json, their types and ranges (ValueError names the file)."""
    from numpy_bert.train import _damaged, check_field

    settings = check_field(state, "settings", path, "dict")
    task = settings.get("task")
    if task not in TASKS:
        raise _damaged(path, f"the field 'settings.task' is {json.dumps(task)[:40]}, not one of {', '.join(TASKS)}")
    try:
        make_settings(task, **{k: settings.get(k) for k in DEFAULTS})
    except (ValueError, TypeError) as e:
        raise _damaged(path, f"its settings are not valid ({e})") from None
    check_field(state, "settings.steps_per_epoch", path, "int", 1)
    total = check_field(state, "total_steps", path, "int", 1)
    check_field(state, "step", path, "int", 0, total)
    check_field(state, "epoch", path, "number", 0)
    check_field(state, "data_sha256", path, "sha256")
    check_field(state, "model", path, "str")
    check_field(state, "dropout_rng", path, "rng")
    if check_field(state, "best", path, "dict", optional=True) is not None:
        check_field(state, "best.step", path, "int", 1, state["step"])
        check_field(state, f"best.{settings.get('metric_for_best_model')}", path, "number")
    check_field(state, "window.loss", path, "number")
    check_field(state, "window.steps", path, "int", 0)
    check_field(state, "window.tokens", path, "int", 0)


def _read_config(model_dir):
    return json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))


def check_head(model_dir, task, id2label, head_rows, ignore_mismatched_sizes):
    """Refuse a checkpoint whose classifier has another num_labels than the data (unless told)."""
    if head_rows is None or id2label is None or head_rows == len(id2label) or ignore_mismatched_sizes:
        return
    names = list(id2label.values())
    raise ValueError(f"the model {model_dir} has a classifier head with num_labels={head_rows}, but the "
                     f"training data has {len(names)} labels ({', '.join(map(str, names[:10]))}); pass "
                     f"--ignore-mismatched-sizes (ignore_mismatched_sizes=True) to replace the head with "
                     f"a new one of {len(names)} labels, as transformers does")


def load_model(task, model_dir, data, settings, ignore_mismatched_sizes):
    """The task's model from ``model_dir``, its head sized for the data's labels (a new head
    initialised from rng [seed] where the checkpoint has none)."""
    import numpy_bert

    cls = getattr(numpy_bert, TASKS[task])
    overrides = {}
    if data.id2label is not None:
        overrides = dict(num_labels=len(data.id2label), id2label=data.id2label, label2id=data.label2id)
    return cls.from_pretrained(model_dir, seed=settings["seed"], ignore_mismatched_sizes=ignore_mismatched_sizes,
                               **overrides)


def restore_checkpoint(checkpoint, state, task):
    """The model, its AdamW optimizer (moments restored) and the dropout rng, from ``checkpoint``."""
    import numpy_bert
    from numpy_bert.weights import load_safetensors

    model = getattr(numpy_bert, TASKS[task]).from_pretrained(checkpoint, seed=state["settings"]["seed"])
    optimizer = make_optimizer("adamw", model.params, weight_decay=state["settings"]["weight_decay"])
    optimizer.load_state_dict(load_safetensors(checkpoint / OPTIMIZER_FILE))
    model.rng.bit_generator.state = state["dropout_rng"]
    return model, optimizer


def trainer_state(step, total_steps, settings, fingerprint, model, best, model_source, window):
    """trainer_state.json: where the run is, its settings, the best eval so far, the dropout rng,
    and the sums of the log window under way (so a resumed run logs the same averages)."""
    return {"step": step, "total_steps": total_steps, "epoch": step / max(1, settings["steps_per_epoch"]),
            "settings": settings, "data_sha256": fingerprint, "model": model_source,
            "best_metric": None if best is None else best[settings["metric_for_best_model"]],
            "best_step": None if best is None else best["step"],
            "best": best, "dropout_rng": model.rng.bit_generator.state,
            "window": {k: window[k] for k in ("loss", "steps", "tokens")}}


# ---------------------------------------------------------------------------------------
# the steps of the loop: logging, progress, curves
# ---------------------------------------------------------------------------------------

def new_window():
    """Sums over the steps since the last log record."""
    return {"loss": 0.0, "steps": 0, "tokens": 0, "start": time.time()}


def accumulate(window, batch, loss):
    window["loss"] += loss
    window["steps"] += 1
    window["tokens"] += int(batch["attention_mask"].sum())  # real tokens, padding not counted


def log_record(step, lr, grad_norm, window, spe, clock, total_steps):
    """A metrics.jsonl record of the training figures (HF's names: loss, learning_rate, grad_norm)."""
    now = time.time()
    return {"step": step, "epoch": step / spe, "loss": window["loss"] / max(window["steps"], 1),
            "learning_rate": lr, "grad_norm": grad_norm,
            "tokens_per_s": window["tokens"] / max(now - window["start"], 1e-9),
            "elapsed_s": now - clock.start, "eta_s": clock.eta_s(step, total_steps)}


def progress_line(record, total_steps):
    return (f"step {record['step']}/{total_steps} | epoch {record['epoch']:.2f} | loss {record['loss']:.4f} | "
            f"lr {record['learning_rate']:.2e} | {record['tokens_per_s']:,.0f} tok/s | "
            f"ETA {_duration(record['eta_s'])}")


def eval_line(record, is_best):
    figures = " | ".join(f"{k[5:]} {v:.4f}" for k, v in record.items() if k.startswith("eval_"))
    return f"  eval at step {record['step']} (epoch {record['epoch']:.2f}): {figures}" + \
        (" (best so far)" if is_best else "")


def plot_curves(records, path, metric, title):
    """Train loss and the eval figures against the step, to ``path`` (PNG).

    Drawn on a ``matplotlib.figure.Figure`` of its own, not through pyplot: the caller's
    backend and figures (a notebook's inline plots) are left as they are.
    """
    from matplotlib.figure import Figure

    from numpy_bert.utils import atomic_write

    train = [r for r in records if "loss" in r]
    evals = [r for r in records if metric in r]
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    left.plot([r["step"] for r in train], [r["loss"] for r in train], color="tab:blue", label="train loss")
    if evals and "eval_loss" in evals[0]:
        left.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", color="tab:orange",
                  label="eval loss")
    left.set(xlabel="step", ylabel="loss (cross-entropy, nats)", title="loss")
    for key in [k for k in (evals[0] if evals else {}) if k.startswith("eval_") and k != "eval_loss"]:
        right.plot([r["step"] for r in evals], [r[key] for r in evals], "o-", label=key[5:])
    right.set(xlabel="step", ylabel="score", title=f"eval figures (best/ by {metric[5:]})")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=80)


def is_better(record, best, metric):
    return best is None or record[metric] > best[metric]


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

@holds_directory_lock
def finetune(model, train, eval, out, task="text-classification", resume=False, ignore_mismatched_sizes=False,
             quiet=False, log_norms=False, **overrides):
    """Fine-tune ``model`` (a directory in HF layout or a name numpy_bert.hub knows) on the
    ``train`` file, evaluating on ``eval``; write the run to directory ``out``.

    Keyword overrides (None = the default in DEFAULTS): epochs, lr, batch_size,
    max_length, seed, warmup_steps, weight_decay, max_grad_norm, doc_stride,
    max_answer_length, log_every, eval_every, save_every, max_train_samples,
    max_eval_samples, eval_batch_size, time_budget (minutes: the run stops, evaluates
    and saves its checkpoint when it is spent; --resume continues it). Returns a
    summary dict (steps, best eval record, paths). ``log_norms``: per-layer gradient
    norms and activation RMS in the training records, drawn to norms.png (numpy_bert.norms).
    """
    from numpy_bert.config import BertConfig
    from numpy_bert.hub import resolve_model
    from numpy_bert.tokenization import BertTokenizer, check_vocab_size

    start_time = time.time()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    out = Path(out)
    checkpoint = find_checkpoint(out) if out.exists() else None
    state = read_run_state(out, checkpoint, resume, check_finetune_state)  # None for a new run
    model_dir, message = (checkpoint, f"resuming {checkpoint}") if state else resolve_model(model)
    settings = make_settings(task, _read_config(model_dir).get("max_position_embeddings"), **overrides)
    settings["metric_for_best_model"] = BEST_METRIC[task]
    if state is not None:
        settings = check_resume(state, {**settings, "steps_per_epoch": state["settings"]["steps_per_epoch"]})
    clock = Clock(start_time, settings["time_budget"])

    # ---- 1. the model's files, the data, the label mapping
    say(message)
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    check_vocab_size(tokenizer, BertConfig.from_pretrained(model_dir), f"the model {model_dir}")
    head_rows = _head_rows(model_dir, task)
    if ignore_mismatched_sizes and state is None:  # a new head: the labels are the data's alone
        data = prepare_task_data(task, train, eval, tokenizer, {}, settings)
    else:
        data = prepare_task_data(task, train, eval, tokenizer, _read_config(model_dir), settings, head_rows)
    fingerprint = file_fingerprint(train, eval)
    if state is not None and state["data_sha256"] != fingerprint:
        raise ValueError("the --train or --eval file differs from the one the run was started with (sha256 "
                         "mismatch); resume with the same files")
    check_head(model_dir, task, data.id2label, head_rows, ignore_mismatched_sizes)
    spe, total_steps, warmup_steps = training_schedule(settings, len(data.train_features))
    if state is not None and (spe != state["settings"]["steps_per_epoch"] or state["step"] > total_steps):
        raise ValueError(f"{checkpoint / STATE_FILE}: step {state['step']} of {state['settings']['steps_per_epoch']} "
                         f"per epoch does not fit this data ({spe} steps per epoch, {total_steps} in all); the "
                         f"checkpoint is damaged, so nothing was trained")
    settings["steps_per_epoch"] = spe
    say(f"data: {len(data.train_examples)} training examples ({len(data.train_features)} features), "
        f"{len(data.eval_examples)} eval examples; {settings['epochs']} epoch(s) of {spe} steps"
        + (f"; labels {data.id2label}" if data.id2label else ""))

    # ---- 2. model and optimizer, from the checkpoint when resuming
    step, records, best = 0, [], None
    if state is None:
        net = load_model(task, model_dir, data, settings, ignore_mismatched_sizes)
        optimizer = make_optimizer("adamw", net.params, weight_decay=settings["weight_decay"])
        model_source = str(model_dir)
        out.mkdir(parents=True, exist_ok=True)
    else:
        net, optimizer = restore_checkpoint(checkpoint, state, task)
        step, best, model_source = state["step"], state["best"], state["model"]
        records = [r for r in read_metrics(out / "metrics.jsonl") if r["step"] <= step]
        say(f"resumed at step {step} of {total_steps}")
    net.train()

    # ---- 3. train
    window = new_window()
    if state is not None:
        window.update(state["window"])
    clock.start_loop(step)
    batches, batches_epoch = None, None
    metric = settings["metric_for_best_model"]
    while step < total_steps:
        epoch, position = divmod(step, spe)
        if batches_epoch != epoch:
            batches = iterate_batches(data.train_features, settings["batch_size"], settings["seed"], epoch,
                                      tokenizer.pad_token_id, start=position)
            batches_epoch = epoch
        batch = next(batches)
        lr = learning_rate(step, settings["lr"], warmup_steps, total_steps)
        loss, details, grad_norm = train_step(net, optimizer, batch, lr, step, settings, out, records, log_norms)
        step += 1
        accumulate(window, batch, loss)
        out_of_time = step < total_steps and clock.over_budget()
        last_step = step >= total_steps or out_of_time
        evaluate_now = step % spe == 0 or last_step or bool(settings["eval_every"]
                                                            and step % settings["eval_every"] == 0)
        logged = step % settings["log_every"] == 0 or evaluate_now
        if logged:
            record = log_record(step, lr, grad_norm, window, spe, clock, total_steps)
            if log_norms:
                record.update(layer_grad_norms=details["layer_grad_norms"],
                              layer_activation_rms=activation_rms(net, batch))
            records.append(record)
            write_metrics(out / "metrics.jsonl", records)
            say(progress_line(record, total_steps))
            window = new_window()
        if evaluate_now:
            record = {"step": step, "epoch": step / spe, **data.evaluate(net), "elapsed_s": time.time() - clock.start}
            records.append(record)
            improved = is_better(record, best, metric)
            say(eval_line(record, improved))
            if improved:
                best = record
                save_checkpoint(out, net, tokenizer, None, {"step": step, "epoch": step / spe, "best": best},
                                name=BEST)
        if evaluate_now or step % settings["save_every"] == 0:
            save_checkpoint(out, net, tokenizer, optimizer,
                            trainer_state(step, total_steps, settings, fingerprint, net, best, model_source,
                                          window))
            write_metrics(out / "metrics.jsonl", records)
        if logged:
            window["start"] = time.time()  # the next tokens/s leaves out this evaluation and save
        if out_of_time:
            say(f"time budget of {settings['time_budget']} min reached: stopped at step {step} of {total_steps}; "
                f"--resume continues from {out / CHECKPOINT}")
            break

    # ---- 4. the end: metrics, curves, summary
    write_metrics(out / "metrics.jsonl", records)
    plot_curves(records, out / "curves.png", metric, title=f"numpy_bert fine-tuning: {task}, {model_source}")
    if log_norms:
        plot_norms(records, out / "norms.png", title=f"numpy_bert fine-tuning: {task}")
    summary = {"steps": step, "total_steps": total_steps, "wall_s": time.time() - clock.start, "best": best,
               "best_dir": str(out / BEST), "checkpoint": str(out / CHECKPOINT),
               "metrics": str(out / "metrics.jsonl"), "curves": str(out / "curves.png")}
    if best is not None:
        say(f"done: {step} steps in {_duration(summary['wall_s'])}; best {metric[5:]} {best[metric]:.4f} at "
            f"step {best['step']}, saved in {out / BEST}")
    return summary
