"""BertConfig: the numbers that fix BERT's shape, with HuggingFace's config.json names.

A checkpoint directory holds a ``config.json`` next to ``model.safetensors``; the
config says how big every tensor is. For bert-base-cased:

    >>> config = BertConfig.from_pretrained("weights/bert-base-cased")   # doctest: +SKIP
    >>> config.hidden_size, config.num_attention_heads, config.head_size
    (768, 12, 64)

Every field keeps the name HuggingFace uses, so a config.json written by
transformers loads here and one written here loads in transformers. Fields that
numpy_bert does not use (``model_type``, ``architectures``,
``transformers_version``, ``classifier_dropout``, ...) are kept in ``extra`` and
written back unchanged. Fields that would change the computation in ways
numpy_bert does not implement (``position_embedding_type`` other than
``"absolute"``, ``is_decoder``, untied word embeddings) raise a ValueError instead
of being silently ignored.
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

_INT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
               "intermediate_size", "max_position_embeddings", "type_vocab_size")
_PROB_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


class BertConfig:
    """The hyper-parameters of a BERT model (HuggingFace ``config.json`` names).

    Attributes are the keys of ``DEFAULTS`` plus ``architectures`` (list of class
    names, written to config.json; None means ``["BertForPreTraining"]``) and
    ``extra`` (dict of every other config.json field, kept and written back).

    The constructor validates everything and raises ValueError/TypeError saying
    which field is wrong. If you change attributes afterwards, call
    ``validate()`` again.
    """

    def __init__(self, vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02,
                 layer_norm_eps=1e-12, pad_token_id=0, architectures=None, **extra):
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
        self.extra = dict(extra)
        self.validate()

    # ------------------------------------------------------------------ derived sizes

    @property
    def head_size(self):
        """HS = H / NH: the width of one attention head (64 for BERT-base)."""
        return self.hidden_size // self.num_attention_heads

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

        if not isinstance(self.extra, dict):
            raise TypeError("BertConfig.extra must be a dict")
        self._check_unsupported_extras()

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
        return dict(sorted(d.items()))

    @classmethod
    def from_json_file(cls, path):
        """Read a config.json. Errors name the file."""
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
    def from_pretrained(cls, path):
        """Read ``<dir>/config.json`` (or ``path`` itself if it is a file)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            file = os.path.join(path, "config.json")
            if not os.path.isfile(file):
                raise FileNotFoundError(f"no config.json in {path}: a model directory needs "
                                        f"config.json next to model.safetensors")
            path = file
        elif not os.path.exists(path):
            raise FileNotFoundError(f"model path {path} does not exist")
        return cls.from_json_file(path)

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
