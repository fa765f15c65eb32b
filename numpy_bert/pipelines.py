"""Pipelines: fill-mask, feature extraction, next-sentence prediction and the task heads, shaped like HF's.

    >>> from numpy_bert import pipeline
    >>> unmasker = pipeline("fill-mask", model="bert-base-cased")   # a name or a directory
    >>> unmasker("Hello I'm a [MASK] model.", top_k=2)
    [{'score': 0.09..., 'token': 4633, 'token_str': 'fashion', 'sequence': "Hello I ' m a fashion model."}, ...]

Each pipeline is tokenizer -> model -> a little post-processing, written so that the
output equals ``transformers.pipeline(task)``'s for the same checkpoint (the committed
fixtures in tests/fixtures/pipeline/ check it):

- ``"fill-mask"``: softmax over the vocabulary of the MLM logits at each [MASK]; the
  ``top_k`` best tokens, each with the text where it replaces that [MASK]. One [MASK]
  gives one list; several give one list per [MASK] (scored independently, as HF does:
  these are not joint probabilities). ``targets`` restricts the candidates.
- ``"feature-extraction"``: the last hidden state, a nested list of shape (1, T, H) per
  text (``return_tensors=True`` gives the NumPy array).
- ``"next-sentence"``: P(IsNext) = softmax(seq_relationship_logits)[0] for a pair (A, B).
- ``"text-classification"`` (``"sentiment-analysis"``): labels and scores of a
  BertForSequenceClassification; ``top_k``, ``function_to_apply``, text pairs.
- ``"token-classification"`` (``"ner"``): a label per token of a
  BertForTokenClassification, grouped into entities by ``aggregation_strategy``.
- ``"question-answering"``: the best answer spans of a BertForQuestionAnswering in a
  context of any length (overlapping windows); the span search is ``best_spans``,
  which a QA evaluation can reuse, with ``span_to_chars``.

Dimension key: B batch, T tokens, H hidden, V vocab, M masked positions, C context tokens.
"""

import warnings

import numpy as np

from numpy_bert.hub import resolve_model
from numpy_bert.layers import softmax_forward
from numpy_bert.model import mlm_head_forward
from numpy_bert.tokenization import BertTokenizer, _check_text, check_vocab_size


class Pipeline:
    """Shared part: a model, its tokenizer, input checks.

    ``model`` is a numpy_bert model (one of the classes ``MODEL_CLASSES`` names for the
    task); ``tokenizer`` a numpy_bert BertTokenizer. ``message`` says which checkpoint
    was loaded.
    """

    task = None
    outputs_read = ("logits",)  # the model outputs a pipeline scores from (checked finite)

    def __init__(self, model, tokenizer, message=""):
        self.model = model
        self.tokenizer = tokenizer
        self.message = message
        self.max_length = int(model.config.max_position_embeddings)

    def _encode(self, text, text_pair=None):
        """Token ids with [CLS] ... [SEP] (... [SEP]); refuse what the model cannot take."""
        return self._check_length(self.tokenizer.encode(text, text_pair=text_pair))

    def _check_length(self, ids):
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
        with np.errstate(invalid="ignore", over="ignore"):  # _check_finite says it instead
            outputs = self.model(*self._inputs(ids, token_type_ids))
        for name in self.outputs_read:
            if name in outputs:
                self._check_finite(outputs[name], name)
        return outputs

    def _check_finite(self, values, name):
        """Refuse to score from NaN or infinite model outputs (a NaN score ranks anywhere)."""
        values = np.asarray(values)
        if not np.isfinite(values).all():
            bad = int(values.size - np.isfinite(values).sum())
            raise ValueError(f"the model's {name} hold {bad} NaN or infinite value(s) of {values.size}, so "
                             f"no {self.task} result can be given: its weights hold NaN or infinity (loaded "
                             f"with allow_nonfinite=True?) or overflowed on this input")


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
        with np.errstate(invalid="ignore", over="ignore"):  # _check_finite says it instead
            hidden = self.model.sequence_output(*self._inputs(ids))[0, masked]  # (M, H) encoder only
            logits, _ = mlm_head_forward(self.model.layers, self.model.params, self.model.config, hidden)  # (M, V)
        self._check_finite(logits, "prediction_logits")
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
    outputs_read = ("last_hidden_state",)

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
    outputs_read = ("seq_relationship_logits", "logits")
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
        out = self._forward(ids, token_type_ids)
        # BertForPreTraining names its NSP logits seq_relationship_logits, BertForNextSentencePrediction logits
        logits = out.get("seq_relationship_logits", out.get("logits"))[0]        # (2,)
        probs, _ = softmax_forward(logits.astype(np.float64))  # (2,)
        label = int(np.argmax(probs))
        return {"label": self.labels[label], "score": float(probs[label]), "is_next": float(probs[0])}


# --------------------------------------------------------------------------- text classification


def _sigmoid(x):
    """1 / (1 + exp(-x)), element-wise."""
    return 1.0 / (1.0 + np.exp(-x))


CLASSIFICATION_FUNCTIONS = ("default", "sigmoid", "softmax", "none")


class TextClassificationPipeline(Pipeline):
    """Label a text, or a pair of texts, with a BertForSequenceClassification.

    The head's logits (num_labels,) become scores by ``function_to_apply``:
    ``"default"`` picks, as HF does, none for ``problem_type="regression"``, the
    sigmoid ``1 / (1 + exp(-z))`` for ``"multi_label_classification"`` or a single
    label, and the softmax otherwise; ``"sigmoid"``, ``"softmax"`` and ``"none"``
    force one. Labels are ``config.id2label``.

    Output, as HF's (transformers 5): without ``top_k`` a text gives
    ``[{"label", "score"}]`` (the best label, in a list), a pair
    ``{"text": A, "text_pair": B}`` gives the dict alone, and a list gives one dict
    per input. With ``top_k=k`` each input gives its k best labels, best first
    (``top_k=None``: all of them), and a list gives one such list per input.
    """

    task = "text-classification"

    def __call__(self, inputs, top_k="", function_to_apply="default"):
        legacy = isinstance(top_k, str) and top_k == ""  # HF: top_k not given
        if not legacy and top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                                                  or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None (all labels), got {top_k!r}")
        if function_to_apply is None:
            function_to_apply = "default"
        if not isinstance(function_to_apply, str) or function_to_apply.lower() not in CLASSIFICATION_FUNCTIONS:
            raise ValueError(f"function_to_apply must be one of {', '.join(CLASSIFICATION_FUNCTIONS)}; "
                             f"got {function_to_apply!r}")
        function = function_to_apply.lower()
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("the list of texts is empty")
            return [self._classify(item, top_k, function, legacy) for item in inputs]
        result = self._classify(inputs, top_k, function, legacy)
        return [result] if legacy and isinstance(inputs, str) else result

    def _classify(self, item, top_k, function, legacy):
        if isinstance(item, dict):
            unknown = set(item) - {"text", "text_pair"}
            if "text" not in item or unknown:
                raise ValueError('a text pair is a dict {"text": ..., "text_pair": ...}; '
                                 f"got the keys {sorted(item)}")
            text, pair = item["text"], item.get("text_pair")
        elif isinstance(item, str):
            text, pair = item, None
        else:
            raise ValueError('give a text, a pair {"text": "My text", "text_pair": "My pair"}, or a list of those; '
                             f"got {type(item).__name__}")
        _check_text(text, empty_hint="give some words")
        if pair is not None:
            _check_text(pair, "text_pair", empty_hint="give some words")
        encoding = self.tokenizer(text, pair)
        self._check_length(encoding["input_ids"])
        logits = self._forward(encoding["input_ids"], encoding["token_type_ids"])["logits"][0]  # (num_labels,)
        scores = self._scores(logits.astype(np.float64), function)
        id2label = self.model.config.id2label
        if legacy:
            best = int(np.argmax(scores))
            return {"label": id2label[best], "score": float(scores[best])}
        order = np.argsort(-scores, kind="stable")[:top_k]  # top_k None: all labels
        return [{"label": id2label[int(i)], "score": float(scores[i])} for i in order]

    def _scores(self, logits, function):
        if function == "default":
            config = self.model.config
            if config.problem_type == "regression":
                function = "none"
            elif config.problem_type == "multi_label_classification" or config.num_labels == 1:
                function = "sigmoid"
            else:
                function = "softmax"
        if function == "sigmoid":
            return _sigmoid(logits)
        if function == "softmax":
            return softmax_forward(logits)[0]
        return logits


# --------------------------------------------------------------------------- token classification

AGGREGATION_STRATEGIES = ("none", "simple", "first", "average", "max")


def _bio_tag(label):
    """"B-PER" -> ("B", "PER"), "I-PER" -> ("I", "PER"); any other label counts as a continuation ("I", label)."""
    if label.startswith("B-") or label.startswith("I-"):
        return label[0], label[2:]
    return "I", label


class TokenClassificationPipeline(Pipeline):
    """Tag each token (or word, or entity) of a text with a BertForTokenClassification.

    Per token, scores = softmax(logits) over ``config.id2label``; the special tokens
    are skipped. ``aggregation_strategy`` (HF's):

    - ``"none"``: one dict per token ``{"entity", "score", "index", "word", "start", "end"}``
      (``index`` the token's position, ``word`` the WordPiece, ``start``/``end``
      character offsets into the text).
    - ``"simple"``: adjacent tokens whose labels continue one entity (``B-X I-X I-X``,
      or equal labels without a B-/I- prefix) are grouped into
      ``{"entity_group": "X", "score": mean of their scores, "word", "start", "end"}``;
      a ``B-`` always starts a new group.
    - ``"first"``, ``"average"``, ``"max"``: the pieces of a word are first given one
      label, that of the word's first piece, of the mean of its pieces' scores, or of
      its highest-scoring piece; then grouped as in ``"simple"``. A piece belongs to
      the word before it when its text differs in length from the text it covers
      (``##ing`` has 5 characters, ``ing`` 3), as HF decides it.

    Entities whose label is in ``ignore_labels`` (default ``["O"]``) are dropped.
    ``is_split_into_words=True`` takes a list of words (joined with ``delimiter``,
    default " ", for the offsets). One text gives a list of dicts, a list of texts a
    list of such lists; a list of words with ``is_split_into_words`` gives a list
    holding one such list, as HF returns it. ``stride=n`` tags a text longer than the
    model takes in overlapping windows (n tokens shared by neighbours) and merges
    their entities; it needs an ``aggregation_strategy`` other than "none".
    """

    task = "token-classification"

    def __call__(self, inputs, aggregation_strategy="none", ignore_labels=None, is_split_into_words=False,
                 delimiter=None, stride=None):
        if not isinstance(aggregation_strategy, str) or aggregation_strategy.lower() not in AGGREGATION_STRATEGIES:
            raise ValueError(f"aggregation_strategy must be one of {', '.join(AGGREGATION_STRATEGIES)}; "
                             f"got {aggregation_strategy!r}")
        strategy = aggregation_strategy.lower()
        if stride is not None:
            if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
                raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
            if stride >= self.max_length:
                raise ValueError(f"stride ({stride}) must be less than the longest input, {self.max_length} tokens "
                                 "(less still, with the special tokens)")
            if strategy == "none":
                raise ValueError('stride cuts a long text into overlapping windows whose entities are then '
                                 'merged: choose an aggregation_strategy other than "none"')
        options = {"strategy": strategy, "ignore_labels": ["O"] if ignore_labels is None else list(ignore_labels),
                   "stride": stride}
        delimiter = " " if delimiter is None else delimiter
        if is_split_into_words:
            if not isinstance(inputs, (list, tuple)) or not inputs:
                raise ValueError("with is_split_into_words=True give a list of words, or a list of such lists")
            if not all(isinstance(words, (list, tuple)) for words in inputs):
                inputs = [inputs]
            return [self._tag_words(list(words), delimiter, **options) for words in inputs]
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("the list of texts is empty")
            return [self._tag_text(text, **options) for text in inputs]
        return self._tag_text(inputs, **options)

    def _windows(self, text, stride, **kwargs):
        """``text`` encoded -> list of (row, word_ids): one row (truncated to what the model
        takes), or with ``stride`` one per overlapping window. A row is a dict of lists."""
        kwargs.update(truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                      return_special_tokens_mask=True)
        if stride is None:
            encoding = self.tokenizer(text, **kwargs)
            return [(encoding, encoding.word_ids())]
        encoding = self.tokenizer(text, stride=stride, return_overflowing_tokens=True, **kwargs)
        return [({key: encoding[key][w] for key in encoding}, encoding.word_ids(w))
                for w in range(len(encoding["input_ids"]))]

    def _tag_text(self, text, strategy, ignore_labels, stride):
        if not isinstance(text, str):
            raise ValueError("give a text (a string), or pass is_split_into_words=True for a list of words; "
                             f"got {type(text).__name__}")
        _check_text(text, empty_hint="give some words")
        windows = self._windows(text, stride)
        entities = []
        for row, _ in windows:
            entities += self._tag(text, row, row["offset_mapping"], strategy, ignore_labels)
        return entities if len(windows) == 1 else self._merge_overlapping(entities)

    def _tag_words(self, words, delimiter, strategy, ignore_labels, stride):
        for i, word in enumerate(words):
            _check_text(word, f"word {i}", empty_hint="leave it out of the list")
        windows = self._windows(words, stride, is_split_into_words=True)
        # offsets are within each word: shift them to the words joined by the delimiter (HF)
        word_starts = np.cumsum([0] + [len(word) + len(delimiter) for word in words])
        entities = []
        for row, word_ids in windows:
            offsets = [(a + int(word_starts[i]), b + int(word_starts[i])) if i is not None else (a, b)
                       for (a, b), i in zip(row["offset_mapping"], word_ids)]
            entities += self._tag(delimiter.join(words), row, offsets, strategy, ignore_labels)
        return entities if len(windows) == 1 else self._merge_overlapping(entities)

    @staticmethod
    def _merge_overlapping(entities):
        """Entities of overlapping windows -> one list: of entities that overlap, the longer
        (the higher-scoring when equally long) is kept, as HF keeps it."""
        merged = []
        for entity in sorted(entities, key=lambda e: e["start"]):
            last = merged[-1] if merged else None
            if last is not None and last["start"] <= entity["start"] < last["end"]:
                length, last_length = entity["end"] - entity["start"], last["end"] - last["start"]
                if length > last_length or (length == last_length and entity["score"] > last["score"]):
                    merged[-1] = entity
            else:
                merged.append(entity)
        return merged

    def _tag(self, sentence, encoding, offsets, strategy, ignore_labels):
        ids = encoding["input_ids"]
        self._check_length(ids)
        logits = self._forward(ids, encoding["token_type_ids"])["logits"][0].astype(np.float64)  # (T, num_labels)
        scores = softmax_forward(logits)[0]  # (T, num_labels)
        tokens = []  # HF's "pre-entities"
        for index, (id_, (start, end), special) in enumerate(zip(ids, offsets, encoding["special_tokens_mask"])):
            if special:
                continue
            word, word_ref = self.tokenizer.convert_ids_to_tokens(id_), sentence[start:end]
            is_subword = len(word) != len(word_ref)
            if id_ == self.tokenizer.unk_token_id:  # show the text behind [UNK]
                word, is_subword = word_ref, False
            tokens.append({"word": word, "scores": scores[index], "start": start, "end": end, "index": index,
                           "is_subword": is_subword})
        id2label = self.model.config.id2label
        if strategy in ("none", "simple"):
            entities = []
            for t in tokens:
                best = int(np.argmax(t["scores"]))
                entities.append({"entity": id2label[best], "score": float(t["scores"][best]), "index": t["index"],
                                 "word": t["word"], "start": t["start"], "end": t["end"]})
        else:
            entities = [self._aggregate_word(word, strategy) for word in self._words(tokens)]
        if strategy != "none":
            entities = self._group_entities(entities)
        return [e for e in entities if e.get("entity", e.get("entity_group")) not in ignore_labels]

    @staticmethod
    def _words(tokens):
        """Tokens -> lists of the tokens of each word (a sub-word joins the word before it)."""
        words = []
        for t in tokens:
            if words and t["is_subword"]:
                words[-1].append(t)
            else:
                words.append([t])
        return words

    def _aggregate_word(self, pieces, strategy):
        """One label for a word: its first piece's, its highest piece's, or that of the mean scores."""
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda t: t["scores"].max())["scores"]
        else:  # average
            scores = np.nanmean(np.stack([t["scores"] for t in pieces]), axis=0)  # (num_labels,)
        best = int(np.argmax(scores))
        return {"entity": self.model.config.id2label[best], "score": float(scores[best]),
                "word": self.tokenizer.convert_tokens_to_string([t["word"] for t in pieces]),
                "start": pieces[0]["start"], "end": pieces[-1]["end"]}

    def _group_entities(self, entities):
        """Adjacent entities that continue one another (same tag, not a B-) -> one entity group."""
        groups = []
        for entity in entities:
            bi, tag = _bio_tag(entity["entity"])
            if groups and bi != "B" and _bio_tag(groups[-1][-1]["entity"])[1] == tag:
                groups[-1].append(entity)
            else:
                groups.append([entity])
        return [{"entity_group": group[0]["entity"].split("-", 1)[-1],  # as HF: "B-PER" -> "PER"
                 "score": float(np.nanmean([e["score"] for e in group])),
                 "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in group]),
                 "start": group[0]["start"], "end": group[-1]["end"]} for group in groups]


# --------------------------------------------------------------------------- question answering


def best_spans(start_logits, end_logits, context_mask, top_k=1, max_answer_len=15, cls_index=0):
    """The ``top_k`` best answer spans of one window, scored as HF's question-answering pipeline scores them.

    ``start_logits``, ``end_logits``: (T,) the QA head's logits for one window;
    ``context_mask``: (T,) bool, True for the tokens an answer may use (the context's,
    not the question's, the special tokens' or padding). The token at ``cls_index``
    ([CLS]) stands for "no answer".

        p_start = softmax(start_logits over the context tokens and [CLS])
        p_end   = softmax(end_logits   over the same tokens)
        null_score = p_start[cls] * p_end[cls]
        score(s, e) = p_start[s] * p_end[e]      for context tokens s <= e < s + max_answer_len

    Returns ``(spans, null_score)``: ``spans`` a list of up to ``top_k`` tuples
    ``(start_token, end_token, score)``, best first (end inclusive);
    ``null_score`` the score of "no answer". A question-answering evaluation takes
    ``spans[0]`` (or compares the best score with ``null_score`` for SQuAD 2.0-style
    data); mapping tokens back to characters is ``span_to_chars``. (HF's pipeline
    may also return spans of score 0 that touch a masked token when ``top_k`` asks
    for more spans than the context holds; here only context spans are returned.)
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)  # (T,)
    end_logits = np.asarray(end_logits, dtype=np.float64)  # (T,)
    context_mask = np.asarray(context_mask, dtype=bool)  # (T,)
    if start_logits.ndim != 1 or start_logits.shape != end_logits.shape or context_mask.shape != start_logits.shape:
        raise ValueError(f"start_logits, end_logits and context_mask must be 1-D of one length (T,); got shapes "
                         f"{start_logits.shape}, {end_logits.shape}, {context_mask.shape}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if isinstance(max_answer_len, bool) or not isinstance(max_answer_len, (int, np.integer)) or max_answer_len < 1:
        raise ValueError(f"max_answer_len must be a positive integer, got {max_answer_len!r}")
    allowed = context_mask.copy()
    allowed[cls_index] = True
    p_start = softmax_forward(np.where(allowed, start_logits, -np.inf))[0]  # (T,)
    p_end = softmax_forward(np.where(allowed, end_logits, -np.inf))[0]  # (T,)
    null_score = float(p_start[cls_index] * p_end[cls_index])
    in_context = np.flatnonzero(context_mask)  # (C,)
    p_start, p_end = p_start[in_context], p_end[in_context]  # (C,)
    scores = p_start[:, None] * p_end[None, :]  # (C, C): rows start, columns end
    gap = in_context[None, :] - in_context[:, None]  # end token - start token
    scores = np.where((gap >= 0) & (gap < max_answer_len), scores, -1.0)
    flat = scores.ravel()
    order = np.argsort(-flat, kind="stable")[:top_k]
    order = order[flat[order] >= 0]
    starts, ends = np.unravel_index(order, scores.shape)
    spans = [(int(in_context[s]), int(in_context[e]), float(flat[o])) for s, e, o in zip(starts, ends, order)]
    return spans, null_score


def span_to_chars(offsets, word_ids, sequence_ids, start, end, align_to_words=True, sequence=1):
    """Token span [start, end] (inclusive) of one window -> (start_char, end_char) in that sequence's text.

    With ``align_to_words`` (HF's default) the span grows to whole words: from the
    first character of the word holding token ``start`` to the last of the word
    holding token ``end`` (only the word's tokens inside this window count);
    otherwise it is ``offsets[start][0], offsets[end][1]``.
    """
    if align_to_words and word_ids[start] is not None and word_ids[end] is not None:
        first = [i for i, (w, s) in enumerate(zip(word_ids, sequence_ids)) if w == word_ids[start] and s == sequence]
        last = [i for i, (w, s) in enumerate(zip(word_ids, sequence_ids)) if w == word_ids[end] and s == sequence]
        return offsets[first[0]][0], offsets[last[-1]][1]
    return offsets[start][0], offsets[end][1]


class QuestionAnsweringPipeline(Pipeline):
    """Find the answer to a question in a context with a BertForQuestionAnswering.

        >>> qa = pipeline("question-answering", model=DIR)
        >>> qa(question="Who designed the tower?", context="... by Gustave Eiffel ...")
        {'score': 0.61, 'start': 98, 'end': 112, 'answer': 'Gustave Eiffel'}

    The input is ``[CLS] question [SEP] context window [SEP]``: a context longer than
    ``max_seq_len`` tokens (default min(384, the tokenizer's model_max_length)) is cut
    into windows that overlap by ``doc_stride`` tokens (default min(max_seq_len // 2,
    128)). Each window's spans are scored by ``best_spans`` and mapped to characters
    of the context, grown to whole words (``align_to_words``); spans that give the
    same answer text (ignoring case), in one window or several, are one answer whose
    score is the sum of theirs. The best ``top_k`` answers are returned, each
    ``{"score", "start", "end", "answer"}`` with ``start``/``end`` character positions
    in the context. ``handle_impossible_answer=True`` adds the "no answer"
    ``{"score": null score, "start": 0, "end": 0, "answer": ""}`` (its score the
    smallest null score over the windows) to the candidates. One answer is returned
    as a dict, several as a list; several questions give one such result each.

    Inputs as HF's (transformers 4.x; transformers 5 removed this pipeline):
    ``qa(question=Q, context=C)``, ``qa(Q, C)``, ``qa({"question": Q, "context": C})``,
    a list of such dicts, ``question=[Q1, Q2]`` with one context or a list of contexts.
    ``max_question_len`` is accepted and, as in HF's fast-tokenizer path, not used.
    """

    task = "question-answering"
    outputs_read = ("start_logits", "end_logits")

    def __call__(self, *args, question=None, context=None, top_k=1, max_answer_len=15,
                 handle_impossible_answer=False, doc_stride=None, max_seq_len=None, max_question_len=64,
                 align_to_words=True):
        examples = self._examples(args, question, context)
        for name, value in (("top_k", top_k), ("max_answer_len", max_answer_len)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length or 384, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}): "
                             "make doc_stride smaller")
        options = dict(top_k=int(top_k), max_answer_len=int(max_answer_len),
                       handle_impossible_answer=bool(handle_impossible_answer), doc_stride=int(doc_stride),
                       max_seq_len=int(max_seq_len), align_to_words=align_to_words)
        results = [self._answer(q, c, **options) for q, c in examples]
        return results[0] if len(results) == 1 else results

    @staticmethod
    def _examples(args, question, context):
        """The (question, context) pairs of every way HF accepts them."""
        if args:
            if question is not None or context is not None:
                raise ValueError("give the question and context either as arguments or as question=, context=")
            if len(args) == 2 and all(isinstance(a, str) for a in args):
                items = [{"question": args[0], "context": args[1]}]
            else:
                items = args[0] if len(args) == 1 else list(args)
        elif question is not None and context is not None:
            if isinstance(question, str) and isinstance(context, str):
                items = [{"question": question, "context": context}]
            elif isinstance(question, (list, tuple)) and isinstance(context, str):
                items = [{"question": q, "context": context} for q in question]
            elif isinstance(question, (list, tuple)) and isinstance(context, (list, tuple)):
                if len(question) != len(context):
                    raise ValueError(f"{len(question)} questions but {len(context)} contexts: give one context "
                                     "per question, or one context for all")
                items = [{"question": q, "context": c} for q, c in zip(question, context)]
            else:
                raise ValueError("question must be a string or a list of strings, and context a string or a "
                                 "list of strings")
        else:
            raise ValueError("question-answering needs a question and a context: qa(question=..., context=...)")
        items = [items] if isinstance(items, dict) else list(items)
        if not items:
            raise ValueError("the list of questions is empty")
        pairs = []
        for item in items:
            if not isinstance(item, dict) or "question" not in item or "context" not in item:
                raise ValueError('each input must be a dict {"question": ..., "context": ...}; '
                                 f"got {type(item).__name__}")
            _check_text(item["question"], "question", empty_hint="ask something")
            _check_text(item["context"], "context", empty_hint="give the text that holds the answer")
            pairs.append((item["question"], item["context"]))
        return pairs

    def _answer(self, question, context, top_k, max_answer_len, handle_impossible_answer, doc_stride,
                max_seq_len, align_to_words):
        try:
            windows = self.tokenizer(question, context, truncation="only_second", max_length=max_seq_len,
                                     stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                                     return_special_tokens_mask=True)
        except ValueError as exc:  # the tokenizer's words for it: max_length is max_seq_len, stride doc_stride
            raise ValueError(f"the question and windows of the context do not fit max_seq_len={max_seq_len} with "
                             f"doc_stride={doc_stride}: shorten the question, or raise max_seq_len or lower "
                             f"doc_stride (the tokenizer says: {exc})") from None
        answers, null_score = [], 1e6  # HF starts the smallest null score at 1e6
        for w, ids in enumerate(windows["input_ids"]):
            self._check_length(ids)
            out = self._forward(ids, windows["token_type_ids"][w])
            sequence_ids = windows.sequence_ids(w)
            context_mask = np.array([s == 1 for s in sequence_ids])  # (T,)
            # aligning to words can map several spans onto one answer: HF looks at 2 k + 10 spans
            spans, window_null = best_spans(out["start_logits"][0], out["end_logits"][0], context_mask,
                                            top_k=2 * top_k + 10 if align_to_words else top_k,
                                            max_answer_len=max_answer_len,
                                            cls_index=ids.index(self.tokenizer.cls_token_id))
            null_score = min(null_score, window_null)
            offsets, word_ids = windows["offset_mapping"][w], windows.word_ids(w)
            for start, end, score in spans:
                a, b = span_to_chars(offsets, word_ids, sequence_ids, start, end, align_to_words)
                # the same answer text (from another span or window, any case) adds its score, as in HF
                same = next((x for x in answers if x["answer"].lower() == context[a:b].lower()), None)
                if same is not None:
                    same["score"] += score
                else:
                    answers.append({"score": score, "start": a, "end": b, "answer": context[a:b]})
        if handle_impossible_answer:
            answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


TASKS = {
    "fill-mask": FillMaskPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "next-sentence": NextSentencePipeline,
    "text-classification": TextClassificationPipeline,
    "token-classification": TokenClassificationPipeline,
    "question-answering": QuestionAnsweringPipeline,
}
ALIASES = {"embed": "feature-extraction", "nsp": "next-sentence", "next-sentence-prediction": "next-sentence",
           "sentiment-analysis": "text-classification", "ner": "token-classification"}
# the numpy_bert model classes (in numpy_bert.model) each task runs; a directory loads into the first.
# fill-mask needs only the MLM head: BertForMaskedLM loads MLM-only checkpoints too
MODEL_CLASSES = {
    "fill-mask": ("BertForMaskedLM", "BertForPreTraining"),
    "feature-extraction": ("BertModel",),
    "next-sentence": ("BertForPreTraining", "BertForNextSentencePrediction"),
    "text-classification": ("BertForSequenceClassification",),
    "token-classification": ("BertForTokenClassification",),
    "question-answering": ("BertForQuestionAnswering",),
}


def pipeline(task, model=None, tokenizer=None, dtype=np.float32, allow_nonfinite=False):
    """Build the pipeline for ``task``: "fill-mask", "feature-extraction", "next-sentence",
    "text-classification" ("sentiment-analysis"), "token-classification" ("ner") or
    "question-answering".

    ``model``: None (bert-base-cased if downloaded, else the shipped small model), a
    known name, a directory in HuggingFace layout, or an already built numpy_bert
    model (then pass its ``tokenizer`` too). The task heads (classification, token
    classification, question answering) must come fine-tuned with the checkpoint: a
    head that ``from_pretrained`` had to create at random is reported in a warning.
    ``pipeline(...).message`` says which checkpoint was used. Weights holding NaN or
    infinity are refused unless ``allow_nonfinite=True`` (``from_pretrained``'s option);
    either way a pipeline raises ValueError rather than return a NaN score.
    """
    from numpy_bert import model as models

    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    classes = tuple(getattr(models, cls_name) for cls_name in MODEL_CLASSES[name])
    if model is None or isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        path, message = resolve_model(model)
        tokenizer = tokenizer if tokenizer is not None else BertTokenizer.from_pretrained(path)
        model = classes[0].from_pretrained(path, dtype=dtype, allow_nonfinite=allow_nonfinite)
    else:
        if tokenizer is None:
            raise ValueError("pass the tokenizer too when model is a model object, or give a name or directory")
        message = f"using the given {type(model).__name__}"
    if not isinstance(model, classes):
        raise ValueError(f"the {name} pipeline needs a {' or a '.join(MODEL_CLASSES[name])}, "
                         f"got a {type(model).__name__}")
    check_vocab_size(tokenizer, model.config)
    return TASKS[name](model, tokenizer, message=message)
