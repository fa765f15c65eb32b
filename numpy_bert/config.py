"""BertConfig: the numbers that fix BERT's shape, with HuggingFace's config.json names.

A checkpoint directory holds a ``config.json`` next to ``model.safetensors``; the
config says how big every tensor is. For bert-base-cased:

    >>> config = BertConfig.from_pretrained("weights/bert-base-cased")   # doctest: +SKIP
    >>> config.hidden_size, config.num_attention_heads, config.head_size
    (768, 12, 64)

Every field keeps the name HuggingFace uses, so a config.json written by
transformers loads here and one written here loads in transformers. Fields that
numpy_bert does not use (``model_type``, ``architectures``,
``transformers_version``, ...) are kept in ``extra`` and written back unchanged.

The task heads read five more fields, as transformers names them: ``id2label``
({0: "negative", 1: "neutral", 2: "positive"}; its keys are strings in JSON and
ints here), ``label2id`` (its inverse), ``num_labels`` (derived: len(id2label),
2 by default), ``problem_type`` (None, "regression", "single_label_classification"
or "multi_label_classification") and ``classifier_dropout`` (None: the heads'
dropout is hidden_dropout_prob).

    >>> BertConfig(num_labels=3).id2label
    {0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2'}

Fields that would change the computation in ways numpy_bert does not implement
(``position_embedding_type`` other than ``"absolute"``, ``is_decoder``, untied word
embeddings) raise a ValueError instead of being silently ignored.
"""

import json
import math
import numbers
import os

from numpy import bool_ as np_bool

from numpy_bert.layers import ACTIVATIONS  # the hidden_act names numpy_bert implements
from numpy_bert.utils import atomic_write

# The fields numpy_bert reads, with BERT-base defaults (HF's BertConfig defaults).
# Order = the order of BertConfig.__init__'s arguments.
DEFAULTS = {
    "vocab_size": 30522,                  # V: rows of the word embedding matrix
    "hidden_size": 768,                   # H: width of every token vector
    "num_hidden_layers": 12,              # L: encoder layers
    "num_attention_heads": 12,            # NH: heads per attention layer (HS = H / NH)
    "intermediate_size": 3072,            # I: width of the feed-forward layer
    "hidden_act": "gelu",                 # feed-forward and MLM-transform activation
    "hidden_dropout_prob": 0.1,           # dropout after embeddings, attention output, FFN output
    "attention_probs_dropout_prob": 0.1,  # dropout on the (B, NH, T, T) attention probabilities
    "max_position_embeddings": 512,       # longest sequence (rows of the position embeddings)
    "type_vocab_size": 2,                 # segment ids (sentence A = 0, sentence B = 1)
    "initializer_range": 0.02,            # std of the normal init of weight matrices
    "layer_norm_eps": 1e-12,              # eps inside LayerNorm's square root
    "pad_token_id": 0,                    # id of [PAD]; its word embedding row gets no gradient
}

# The fields a config.json must give: they fix the tensors' shapes. transformers' BertConfig
# fills a missing one with BERT-base's value and the mismatch surfaces later, as a shape error
# on every tensor it sizes; here the file is refused naming the field. Every BERT config.json
# has them (Google's bert_config.json included). The others default to HF's values, as in
# transformers: Google's files lack layer_norm_eps and pad_token_id, for instance.
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                   "intermediate_size", "max_position_embeddings", "type_vocab_size")

# The task heads' fields (transformers names), beside DEFAULTS; num_labels is derived.
HEAD_FIELDS = ("num_labels", "id2label", "label2id", "problem_type", "classifier_dropout")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
_UNSET = object()   # classifier_dropout not given (see BertConfig.__init__)

_INT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
               "intermediate_size", "max_position_embeddings", "type_vocab_size")
_PROB_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


class BertConfig:
    """The hyper-parameters of a BERT model (HuggingFace ``config.json`` names).

    Attributes are the keys of ``DEFAULTS`` plus ``architectures`` (list of class
    names, written to config.json; None means ``["BertForPreTraining"]``), the heads'
    fields (see ``HEAD_FIELDS``; ``num_labels`` is a property, ``len(id2label)``) and
    ``extra`` (dict of every other config.json field, kept and written back).

    The constructor validates everything and raises ValueError/TypeError saying
    which field is wrong. If you change attributes afterwards, call
    ``validate()`` again.
    """

    def __init__(self, vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02,
                 layer_norm_eps=1e-12, pad_token_id=0, architectures=None, num_labels=None,
                 id2label=None, label2id=None, problem_type=None, classifier_dropout=_UNSET, **extra):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.pad_token_id = pad_token_id
        self.architectures = architectures
        # the task heads' fields (transformers' PreTrainedConfig / BertConfig names)
        self.id2label, self.label2id = _label_maps(num_labels, id2label, label2id)
        self.problem_type = problem_type
        # config.json files written before transformers had classifier_dropout lack it:
        # it is written back only if it was given or is not None
        self._write_classifier_dropout = classifier_dropout is not _UNSET
        self.classifier_dropout = None if classifier_dropout is _UNSET else classifier_dropout
        self.extra = dict(extra)
        self.validate()

    # ------------------------------------------------------------------ derived sizes

    @property
    def head_size(self):
        """HS = H / NH: the width of one attention head (64 for BERT-base)."""
        return self.hidden_size // self.num_attention_heads

    @property
    def num_labels(self):
        """N = len(id2label): the classifier's outputs (2 unless id2label says otherwise)."""
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, num_labels):
        """As transformers: a different number replaces both maps by LABEL_0 .. LABEL_{N-1}."""
        if num_labels != self.num_labels:
            self.id2label, self.label2id = _label_maps(num_labels, None, None)

    # ------------------------------------------------------------------ validation

    def validate(self):
        """Raise TypeError/ValueError naming the field if any value is unusable."""
        self._normalize_numbers()
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"BertConfig.{name} must be an integer, got {value!r} "
                                f"({type(value).__name__})")
            if value <= 0:
                raise ValueError(f"BertConfig.{name} must be positive, got {value}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads}): each head gets "
                f"hidden_size / num_attention_heads features")

        if not isinstance(self.hidden_act, str):
            raise TypeError(f"BertConfig.hidden_act must be a string naming the activation, "
                            f"got {self.hidden_act!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"BertConfig.hidden_act={self.hidden_act!r} is not supported; "
                             f"use one of {', '.join(ACTIVATIONS)}")

        for name in _PROB_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"BertConfig.{name} must be a number, got {value!r}")
            if not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} is a dropout probability and must be in "
                                 f"[0, 1), got {value}")

        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"BertConfig.{name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"BertConfig.{name} must be a positive finite number, got {value}")

        if self.pad_token_id is not None:
            if isinstance(self.pad_token_id, bool) or not isinstance(self.pad_token_id, int):
                raise TypeError(f"BertConfig.pad_token_id must be an integer or None, "
                                f"got {self.pad_token_id!r}")
            if not 0 <= self.pad_token_id < self.vocab_size:
                raise ValueError(f"BertConfig.pad_token_id={self.pad_token_id} must be a token id "
                                 f"in [0, vocab_size={self.vocab_size})")

        if self.architectures is not None:
            if (not isinstance(self.architectures, (list, tuple))
                    or not all(isinstance(a, str) for a in self.architectures)):
                raise TypeError(f"BertConfig.architectures must be a list of class names, "
                                f"got {self.architectures!r}")

        self._validate_head_fields()
        if not isinstance(self.extra, dict):
            raise TypeError("BertConfig.extra must be a dict")
        self._check_unsupported_extras()

    def _validate_head_fields(self):
        self.id2label, self.label2id = _label_maps(None, self.id2label, self.label2id)
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"BertConfig.problem_type={self.problem_type!r} is not one of "
                             f"{', '.join(PROBLEM_TYPES)} (or None: chosen from num_labels and the "
                             f"labels' dtype, as transformers does)")
        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ValueError('problem_type="single_label_classification" needs num_labels > 1; for '
                             'binary classification use num_labels=2, or problem_type="regression" '
                             'for a single-output regression head')
        value = self.classifier_dropout
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"BertConfig.classifier_dropout must be a number or None, got {value!r}")
            if not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.classifier_dropout is a dropout probability and must be "
                                 f"in [0, 1) (or None: hidden_dropout_prob), got {value}")
            self.classifier_dropout = float(value) if not isinstance(value, int) else value

    def _normalize_numbers(self):
        """NumPy scalars (np.int64(768), np.float32(0.1)) -> Python numbers, for JSON."""
        for name in _INT_FIELDS + ("pad_token_id",):
            value = getattr(self, name)
            if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np_bool)):
                setattr(self, name, int(value))
        for name in _PROB_FIELDS + ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and not isinstance(value, (bool, np_bool)):
                setattr(self, name, float(value) if not isinstance(value, int) else value)

    def _check_unsupported_extras(self):
        """Refuse config.json settings that change what BERT computes in ways we don't implement."""
        extra = self.extra
        model_type = extra.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(f"config.json has model_type={model_type!r}; numpy_bert only "
                             f"implements model_type 'bert'")
        position_type = extra.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(f"position_embedding_type={position_type!r} is not supported: "
                             f"numpy_bert implements only learned 'absolute' position embeddings")
        for flag in ("is_decoder", "add_cross_attention"):
            if extra.get(flag):
                raise ValueError(f"{flag}=true is not supported: numpy_bert implements the "
                                 f"bidirectional BERT encoder only")
        if extra.get("tie_word_embeddings", True) is False:
            raise ValueError("tie_word_embeddings=false is not supported: numpy_bert's MLM "
                             "decoder always shares the word embedding matrix")

    # ------------------------------------------------------------------ dict / JSON

    @classmethod
    def from_dict(cls, d):
        """Build a config from a config.json-style dict; unknown keys go to ``extra``."""
        if not isinstance(d, dict):
            raise TypeError(f"BertConfig.from_dict needs a dict, got {type(d).__name__}")
        for key in d:
            if not isinstance(key, str):
                raise TypeError(f"config keys must be strings, got {key!r}")
        return cls(**d)

    def to_dict(self):
        """The config.json dict: numpy_bert's fields, model_type, architectures, and ``extra``."""
        d = dict(self.extra)
        d["model_type"] = "bert"
        d["architectures"] = list(self.architectures or ["BertForPreTraining"])
        for name in DEFAULTS:
            d[name] = getattr(self, name)
        # as transformers writes them: the label maps only when they are not the default
        # two labels (keys of id2label as strings, JSON's only kind), problem_type only when set
        if (self.id2label, self.label2id) != _label_maps(2, None, None):
            d["id2label"] = {str(i): label for i, label in self.id2label.items()}
            d["label2id"] = dict(self.label2id)
        if self.problem_type is not None:
            d["problem_type"] = self.problem_type
        if self.classifier_dropout is not None or self._write_classifier_dropout:
            d["classifier_dropout"] = self.classifier_dropout
        return dict(sorted(d.items()))

    def replace(self, **changes):
        """A new config with ``changes`` applied (the names of BertConfig's arguments), as
        transformers' ``from_pretrained(dir, num_labels=3)`` applies them: a new num_labels
        without id2label gives LABEL_0 .. LABEL_{N-1}; a new id2label without label2id gives
        its inverse.

            >>> BertConfig(num_labels=3).replace(id2label={0: "no", 1: "yes"}).label2id
            {'no': 0, 'yes': 1}
        """
        known = set(DEFAULTS) | set(HEAD_FIELDS) | {"architectures"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown config field(s) {', '.join(unknown)}; BertConfig's fields are "
                            f"{', '.join(sorted(known))}")
        fields = {name: getattr(self, name) for name in DEFAULTS}
        fields.update(architectures=self.architectures, id2label=self.id2label,
                      label2id=self.label2id, problem_type=self.problem_type)
        if self.classifier_dropout is not None or self._write_classifier_dropout:
            fields["classifier_dropout"] = self.classifier_dropout
        if "num_labels" in changes and "id2label" not in changes:
            fields.pop("id2label"), fields.pop("label2id")
        if "id2label" in changes and "label2id" not in changes:
            fields.pop("label2id")
        return type(self)(**{**self.extra, **fields, **changes})

    @classmethod
    def from_json_file(cls, path):
        """Read a config.json. Errors name the file; one that lacks a field of
        ``REQUIRED_FIELDS`` is refused, the others default to BERT-base's (HF's) values."""
        path = os.fspath(path)
        with open(path, "rb") as f:  # OSError (e.g. FileNotFoundError) propagates as is
            raw = f.read()
        try:
            d = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: config file is not UTF-8 text ({e})") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: config file is not valid JSON: {e.msg} at line "
                             f"{e.lineno} column {e.colno}") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: config file must hold a JSON object, "
                             f"got {type(d).__name__}")
        missing = [name for name in REQUIRED_FIELDS if name not in d]
        if missing:
            raise ValueError(f"{path}: config file lacks {', '.join(missing)}, which fix the shapes of the "
                             f"model's tensors; numpy_bert does not guess them (BERT-base's would not fit other "
                             f"weights): add them, as the model's original config.json gives them")
        try:
            return cls.from_dict(d)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        except TypeError as e:
            raise TypeError(f"{path}: {e}") from None

    def to_json_string(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path):
        """Write config.json atomically (HF-compatible: transformers' BertConfig reads it)."""
        self.validate()
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())

    @classmethod
    def from_pretrained(cls, path, **changes):
        """Read ``<dir>/config.json`` (or ``path`` itself if it is a file); ``changes``
        (``num_labels=3``, ``id2label=...``, ...) are applied as ``replace`` applies them."""
        path = os.fspath(path)
        if os.path.isdir(path):
            file = os.path.join(path, "config.json")
            if not os.path.isfile(file):
                raise FileNotFoundError(f"no config.json in {path}: a model directory needs "
                                        f"config.json next to model.safetensors")
            path = file
        elif not os.path.exists(path):
            raise FileNotFoundError(f"model path {path} does not exist")
        config = cls.from_json_file(path)
        return config.replace(**changes) if changes else config

    def save_pretrained(self, directory):
        """Write ``<directory>/config.json``."""
        self.to_json_file(os.path.join(os.fspath(directory), "config.json"))

    # ------------------------------------------------------------------ dunder

    def __eq__(self, other):
        if not isinstance(other, BertConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in DEFAULTS)
        return f"BertConfig({fields})"


def _label_maps(num_labels, id2label, label2id):
    """(id2label {int: str}, label2id {str: int}) from any of the three, as transformers:
    id2label's keys may be strings of digits (JSON) and must be 0 .. N-1; without id2label,
    label2id's inverse or LABEL_0 .. LABEL_{N-1} (N = num_labels, default 2); without
    label2id, id2label's inverse."""
    if id2label is None and label2id is not None:
        if not isinstance(label2id, dict):
            raise TypeError(f"BertConfig.label2id must be a dict label -> id, got {label2id!r}")
        id2label = {value: key for key, value in label2id.items()}
    if id2label is None:
        n = 2 if num_labels is None else num_labels
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"BertConfig.num_labels must be a positive integer, got {num_labels!r}")
        id2label = {i: f"LABEL_{i}" for i in range(int(n))}
    if not isinstance(id2label, dict) or not id2label:
        raise TypeError(f"BertConfig.id2label must be a non-empty dict id -> label name, got {id2label!r}")
    ids = {}
    for key, label in id2label.items():
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            key = int(key)                      # JSON keys are strings
        if isinstance(key, bool) or not isinstance(key, numbers.Integral):
            raise TypeError(f"BertConfig.id2label's keys must be label ids 0, 1, ..., got {key!r}")
        if not isinstance(label, str):
            raise TypeError(f"BertConfig.id2label[{key}] must be a label name (a string), got {label!r}")
        ids[int(key)] = label
    if sorted(ids) != list(range(len(ids))):
        raise ValueError(f"BertConfig.id2label's keys must be 0 .. {len(ids) - 1} (one per label), "
                         f"got {sorted(ids)}")
    if num_labels is not None and num_labels != len(ids):
        raise ValueError(f"num_labels={num_labels} but id2label has {len(ids)} entries; give one of "
                         f"them, or both in agreement")
    id2label = dict(sorted(ids.items()))
    if label2id is None:
        label2id = {label: i for i, label in id2label.items()}
    if not isinstance(label2id, dict) or not all(
            isinstance(k, str) and isinstance(v, numbers.Integral) and not isinstance(v, bool)
            for k, v in label2id.items()):
        raise TypeError(f"BertConfig.label2id must map label names to integer ids, got {label2id!r}")
    return id2label, {k: int(v) for k, v in label2id.items()}
