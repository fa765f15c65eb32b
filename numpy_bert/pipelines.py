"""Pipelines: fill-mask, feature extraction and next-sentence prediction, shaped like HF's.

    >>> from numpy_bert import pipeline
    >>> unmasker = pipeline("fill-mask", model="bert-base-cased")   # a name or a directory
    >>> unmasker("Hello I'm a [MASK] model.", top_k=2)
    [{'score': 0.09..., 'token': 4633, 'token_str': 'fashion', 'sequence': "Hello I ' m a fashion model."}, ...]

Each pipeline is tokenizer -> model -> a little post-processing, written so that the
output equals ``transformers.pipeline(task)``'s for the same checkpoint (the committed
fixture in tests/fixtures/pipeline/ checks it):

- ``"fill-mask"``: softmax over the vocabulary of the MLM logits at each [MASK]; the
  ``top_k`` best tokens, each with the text where it replaces that [MASK]. One [MASK]
  gives one list; several give one list per [MASK] (scored independently, as HF does:
  these are not joint probabilities). ``targets`` restricts the candidates.
- ``"feature-extraction"``: the last hidden state, a nested list of shape (1, T, H) per
  text (``return_tensors=True`` gives the NumPy array).
- ``"next-sentence"``: P(IsNext) = softmax(seq_relationship_logits)[0] for a pair (A, B).

Dimension key: B batch, T tokens, H hidden, V vocab, M masked positions.
"""

import warnings

import numpy as np

from numpy_bert.hub import resolve_model
from numpy_bert.layers import softmax_forward
from numpy_bert.model import BertForMaskedLM, BertForPreTraining, BertModel, mlm_head_forward
from numpy_bert.tokenization import BertTokenizer, _check_text


class Pipeline:
    """Shared part: a model, its tokenizer, input checks.

    ``model`` is a numpy_bert BertForPreTraining, BertForMaskedLM or BertModel; ``tokenizer`` a
    numpy_bert BertTokenizer. ``message`` says which checkpoint was loaded.
    """

    task = None

    def __init__(self, model, tokenizer, message=""):
        self.model = model
        self.tokenizer = tokenizer
        self.message = message
        self.max_length = int(model.config.max_position_embeddings)

    def _encode(self, text, text_pair=None):
        """Token ids with [CLS] ... [SEP] (... [SEP]); refuse what the model cannot take."""
        ids = self.tokenizer.encode(text, text_pair=text_pair)
        if len(ids) > self.max_length:
            raise ValueError(
                f"the text is {len(ids)} tokens long (with [CLS] and [SEP]); this model takes at most "
                f"{self.max_length} (max_position_embeddings): shorten it"
            )
        return ids

    @staticmethod
    def _inputs(ids, token_type_ids=None):
        """One sequence as a batch of 1: input_ids, token_type_ids, attention_mask, each (1, T)."""
        input_ids = np.asarray([ids], dtype=np.int64)  # (1, T)
        if token_type_ids is None:
            token_type_ids = np.zeros_like(input_ids)
        else:
            token_type_ids = np.asarray([token_type_ids], dtype=np.int64)
        return input_ids, token_type_ids, np.ones_like(input_ids)

    def _forward(self, ids, token_type_ids=None):
        return self.model(*self._inputs(ids, token_type_ids))


def _top_k(values, k):
    """Indices of the k largest values, largest first (like torch.topk)."""
    if k >= values.shape[-1]:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")]


class FillMaskPipeline(Pipeline):
    """Predict the token(s) hidden behind [MASK]; see the module docstring."""

    task = "fill-mask"

    def target_ids(self, targets):
        """Vocabulary ids of ``targets``, as HF resolves them.

        A target that is a vocabulary entry is used as is; any other word is tokenized
        and its first WordPiece is used instead, with a warning ("unaffable" ->
        "una"); one that tokenizes to nothing is dropped with a warning. Duplicates
        are removed.
        """
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
            raise TypeError("targets must be a string or a list of strings")
        vocab = self.tokenizer.vocab
        ids = []
        for target in targets:
            id_ = vocab.get(target)
            if id_ is None:
                pieces = self.tokenizer.encode(target, add_special_tokens=False)
                if not pieces:
                    warnings.warn(f"the target {target!r} does not exist in the model vocabulary "
                                  f"and tokenizes to nothing: ignoring it", UserWarning, stacklevel=3)
                    continue
                id_ = pieces[0]
                warnings.warn(
                    f"the target {target!r} does not exist in the model vocabulary; replacing it with "
                    f"{self.tokenizer.convert_ids_to_tokens([id_])[0]!r} (its first WordPiece)",
                    UserWarning, stacklevel=3,
                )
            ids.append(int(id_))
        ids = list(set(ids))
        if not ids:
            raise ValueError("at least one target must be given when targets are passed")
        return np.array(ids)

    def __call__(self, inputs, top_k=5, targets=None):
        """Fill the [MASK]s of one text (-> list of dicts, or one list per [MASK])
        or of a list of texts (-> one such result per text)."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        target_ids = None if targets is None else self.target_ids(targets)
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("the list of texts is empty")
            outputs = [self._fill_one(text, int(top_k), target_ids) for text in inputs]
            return outputs[0] if len(outputs) == 1 else outputs
        return self._fill_one(inputs, int(top_k), target_ids)

    def _mlm_logits(self, ids, masked):
        """MLM logits at the [MASK] positions only: encoder, then the head on M rows.

        Same numbers as ``model(ids)["prediction_logits"][0, masked]`` (the head works
        row by row), without the (T, H) @ (H, V) product for rows nobody reads.
        """
        hidden = self.model.sequence_output(*self._inputs(ids))[0, masked]  # (M, H) encoder only
        logits, _ = mlm_head_forward(self.model.layers, self.model.params, self.model.config, hidden)  # (M, V)
        return logits

    def _fill_one(self, text, top_k, target_ids):
        mask = self.tokenizer.mask_token
        _check_text(text, empty_hint=f"give some words with a {mask}")
        ids = self._encode(text)
        input_ids = np.asarray(ids)
        masked = np.flatnonzero(input_ids == self.tokenizer.mask_token_id)  # (M,)
        if masked.size == 0:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise ValueError(f"no {mask} token in the text {shown!r}: write {mask} where a word should be predicted")
        logits = self._mlm_logits(ids, masked)  # (M, V)
        probs, _ = softmax_forward(logits)  # (M, V), in the model's dtype (as HF)
        if target_ids is not None:
            probs = probs[:, target_ids]  # (M, n_targets)
            top_k = min(top_k, len(target_ids))
        single_mask = masked.size == 1
        result = []
        for i, position in enumerate(masked):
            row = []
            for p in _top_k(probs[i], top_k):
                token = int(p if target_ids is None else target_ids[p])
                tokens = input_ids.copy()
                tokens[position] = token
                tokens = tokens[tokens != self.tokenizer.pad_token_id]
                # One [MASK]: a readable sentence without [CLS]/[SEP]. Several: keep the
                # special tokens, or the other [MASK]s would vanish from the sentence (HF).
                sequence = self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single_mask)
                row.append({
                    "score": float(probs[i, p]),
                    "token": token,
                    "token_str": self.tokenizer.decode([token]),
                    "sequence": sequence,
                })
            result.append(row)
        return result[0] if single_mask else result


class FeatureExtractionPipeline(Pipeline):
    """The last hidden state of a text, as HF's feature-extraction pipeline returns it."""

    task = "feature-extraction"

    def __call__(self, inputs, return_tensors=False):
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("the list of texts is empty")
            return [self._features(text, return_tensors) for text in inputs]
        return self._features(inputs, return_tensors)

    def _features(self, text, return_tensors):
        _check_text(text, empty_hint="give some words")
        hidden = self._forward(self._encode(text))["last_hidden_state"]  # (1, T, H)
        return hidden if return_tensors else hidden.tolist()


class NextSentencePipeline(Pipeline):
    """P(IsNext) for a pair of sentences: does B follow A?

    The NSP head reads the pooled [CLS] vector of ``[CLS] A [SEP] B [SEP]`` (token type 0
    for A, 1 for B); index 0 of its two logits is "IsNext", index 1 "NotNext".
    Returns ``{"label": "IsNext" or "NotNext", "score": probability of that label,
    "is_next": P(IsNext)}``.
    """

    task = "next-sentence"
    labels = ("IsNext", "NotNext")

    def __call__(self, text, text_pair=None):
        if isinstance(text, (list, tuple)) and text_pair is None:
            if not text:
                raise ValueError("the list of sentence pairs is empty")
            pairs = [tuple(p) if isinstance(p, (list, tuple)) and len(p) == 2 else None for p in text]
            if any(p is None for p in pairs):
                raise ValueError("give a list of (sentence A, sentence B) pairs")
            return [self._predict(a, b) for a, b in pairs]
        return self._predict(text, text_pair)

    def _predict(self, a, b):
        if b is None:
            raise ValueError("next-sentence needs two sentences: A and B (does B follow A?)")
        _check_text(a, "sentence A", empty_hint="give some words")
        _check_text(b, "sentence B", empty_hint="give some words")
        ids = self._encode(a, text_pair=b)
        first_sep = ids.index(self.tokenizer.sep_token_id)
        token_type_ids = [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
        logits = self._forward(ids, token_type_ids)["seq_relationship_logits"][0]  # (2,)
        probs, _ = softmax_forward(logits.astype(np.float64))  # (2,)
        label = int(np.argmax(probs))
        return {"label": self.labels[label], "score": float(probs[label]), "is_next": float(probs[0])}


TASKS = {
    "fill-mask": FillMaskPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "next-sentence": NextSentencePipeline,
}
ALIASES = {"embed": "feature-extraction", "nsp": "next-sentence", "next-sentence-prediction": "next-sentence"}


def pipeline(task, model=None, tokenizer=None, dtype=np.float32):
    """Build the pipeline for ``task`` ("fill-mask", "feature-extraction", "next-sentence").

    ``model``: None (bert-base-cased if downloaded, else the shipped small model), a
    known name, a directory in HuggingFace layout, or an already built numpy_bert
    model (then pass its ``tokenizer`` too). ``pipeline(...).message`` says which
    checkpoint was used.
    """
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if model is None or isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        path, message = resolve_model(model)
        tokenizer = tokenizer if tokenizer is not None else BertTokenizer.from_pretrained(path)
        # fill-mask needs only the MLM head: BertForMaskedLM loads MLM-only checkpoints too
        cls = {"feature-extraction": BertModel, "fill-mask": BertForMaskedLM}.get(name, BertForPreTraining)
        model = cls.from_pretrained(path, dtype=dtype)
    else:
        if tokenizer is None:
            raise ValueError("pass the tokenizer too when model is a model object, or give a name or directory")
        message = f"using the given {type(model).__name__}"
    if name == "fill-mask" and not isinstance(model, (BertForPreTraining, BertForMaskedLM)):
        raise ValueError("the fill-mask pipeline needs a BertForMaskedLM or BertForPreTraining (an MLM head)")
    if name == "next-sentence" and not isinstance(model, BertForPreTraining):
        raise ValueError(f"the {name} pipeline needs a BertForPreTraining (with its MLM and NSP heads)")
    return TASKS[name](model, tokenizer, message=message)
