"""numpy_bert: BERT in plain NumPy, every number computed by hand.

Public names are imported lazily, so ``import numpy_bert`` stays fast and a
student can import one part (say the tokenizer) without loading the others.

    >>> from numpy_bert import BertTokenizer, BertForPreTraining, pipeline
"""

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "BertTokenizer": "tokenization",
    "BasicTokenizer": "tokenization",
    "WordpieceTokenizer": "tokenization",
    "train_wordpiece": "vocab_trainer",
    "BertConfig": "config",
    "BertModel": "model",
    "BertForPreTraining": "model",
    "BertForSequenceClassification": "model",
    "BertForTokenClassification": "model",
    "BertForQuestionAnswering": "model",
    "BertForMaskedLM": "model",
    "BertForNextSentencePrediction": "model",
    "BertForMultipleChoice": "model",
    "load_safetensors": "weights",
    "save_safetensors": "weights",
    "pipeline": "pipelines",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'numpy_bert' has no attribute {name!r}")


def __dir__():
    return __all__
