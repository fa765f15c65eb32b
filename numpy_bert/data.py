"""BERT's pretraining data recipe: sentence pairs for NSP, masked tokens for MLM.

This follows google-research/bert's ``create_pretraining_data.py`` step by step:

1. A corpus is a list of documents; a document is a list of sentences (one per
   line in a file, a blank line between documents: see ``numpy_bert.corpus``).
   Every sentence is tokenized once into WordPiece ids.
2. ``create_sentence_pairs`` walks each document and packs consecutive
   sentences into a chunk until it reaches a target length (``max_seq_length - 3``,
   or with probability ``short_seq_prob`` a random shorter length). The chunk is cut
   in two at a random sentence boundary: A is the first part; half of the time B is
   the rest of the chunk (the true continuation, ``next_sentence_label = 0``,
   "IsNext"), otherwise B is taken from a random other document
   (``next_sentence_label = 1``, "NotNext", HuggingFace's convention). The pair is
   truncated to fit by removing tokens from a random end of the longer segment,
   and becomes ``[CLS] A [SEP] B [SEP]`` with token types 0...0 1...1.
3. ``Masking`` picks ``min(max_predictions_per_seq, max(1, round(masked_lm_prob * n)))``
   positions (n counts every token, [CLS] and [SEP] included, as google does),
   never a special token; each picked token is replaced by [MASK] with probability
   ``mask_prob`` (0.8), by a random ordinary token with probability ``random_prob``
   (0.1), and kept as is otherwise (0.1). The model must predict the original
   token at every picked position. Static masking (google) masks once while the
   data are built, ``dupe_factor`` times with different masks; dynamic masking
   (RoBERTa, HuggingFace's ``DataCollatorForLanguageModeling``) re-masks the
   unmasked pairs every epoch with ``Masking.mask_instances`` or
   ``Masking.mask_batch``.
4. ``collate`` pads a list of instances to ``max_seq_length`` and returns the
   arrays the model takes: input_ids, token_type_ids, attention_mask (B, T),
   labels (B, T) holding the original id at predicted positions and -100
   elsewhere, next_sentence_label (B,).

Every random choice goes through one ``numpy.random.Generator`` passed in: the
same seed gives the same instances, byte for byte.

Worked example (max_seq_length 16, a 2-sentence chunk, IsNext)::

    A:      the cat sat on the mat .
    B:      it was very happy .
    tokens: [CLS] the cat sat on the mat . [SEP] it was very happy . [SEP]
    types:  0     0   0   0   0  0   0   0 0     1  1   1    1     1 1
    n = 15 tokens -> round(0.15 * 15) = 2 predictions, say "cat" and "happy":
    input:  [CLS] the [MASK] sat on the mat . [SEP] it was very happy . [SEP]
            ("happy" drew the 10% "keep" branch: it stays, but is still predicted)
    labels: -100 -100 cat -100 ... -100 happy -100 -100

Differences from google's script, on purpose:
- B is the true continuation exactly half of the time. Google forces a random B
  whenever a chunk holds a single sentence (the last sentence of a document, or
  one longer than the target), which tilts its split towards NotNext. Here such a
  lone sentence becomes B and A is made of the sentences before it (or, for a
  document's first sentence, it becomes A and B the sentences after it); only a
  document of a single sentence is cut at a random token (A and B are still
  consecutive text), and only a single one-token sentence falls back to a random B.
- The short target length is drawn again for every pair, not once per document,
  so that ``short_seq_prob`` of the pairs are short as google's comment intends.
- Special tokens ([UNK] included) are never picked for prediction, and the random
  replacement is never a special or ``[unused*]`` token.
- A word-initial "##" piece after [SEP] starts a new word for whole-word masking.
"""

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SentencePair",
    "TrainingInstance",
    "Masking",
    "tokenize_documents",
    "truncate_seq_pair",
    "create_sentence_pairs",
    "create_training_instances",
    "collate",
    "batches",
]

IGNORE_INDEX = -100  # label of a position with nothing to predict (PyTorch's and HF's convention)
IS_NEXT, NOT_NEXT = 0, 1  # next_sentence_label values, as in HuggingFace


@dataclass
class SentencePair:
    """One unmasked ``[CLS] A [SEP] B [SEP]`` sequence, with where it came from.

    ``source`` records the provenance in each document's flat token stream (the
    document's sentences concatenated): ``(doc_a, a_start, a_end, doc_b, b_start,
    b_end, boundary)``. A is ``flat[doc_a][a_start:a_end]``, B is
    ``flat[doc_b][b_start:b_end]``; ``boundary`` is where the untruncated A ended,
    so for an IsNext pair ``a_end <= boundary <= b_start`` and the untruncated B
    started exactly at ``boundary``.
    """

    input_ids: np.ndarray  # (n,) int64, [CLS] A [SEP] B [SEP]
    token_type_ids: np.ndarray  # (n,) int64, 0 for [CLS] A [SEP], 1 for B [SEP]
    next_sentence_label: int  # 0 = B follows A (IsNext), 1 = B is from another document
    source: tuple = ()


@dataclass
class TrainingInstance:
    """A masked sentence pair: what one row of a training batch holds.

    ``input_ids`` is the masked sequence; ``masked_positions`` (M,) are the
    predicted positions (sorted) and ``masked_labels`` (M,) the original ids there.
    """

    input_ids: np.ndarray  # (n,) int64, after masking
    token_type_ids: np.ndarray  # (n,) int64
    next_sentence_label: int
    masked_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (M,)
    masked_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (M,)
    source: tuple = ()

    def original_ids(self):
        """The unmasked sequence: input_ids with the labels put back."""
        ids = self.input_ids.copy()
        ids[self.masked_positions] = self.masked_labels
        return ids


# ----------------------------------------------------------------------------------------
# 1. Tokenization


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got "
            f"{type(rng).__name__}; every random choice goes through it so that a seed fixes the data")


def tokenize_documents(documents, tokenizer=None):
    """Turn documents of sentences into documents of WordPiece id arrays.

    ``documents``: list of documents; a document is a list of sentences, each a
    string (tokenized with ``tokenizer``), a list of token strings (converted with
    ``tokenizer``) or a sequence of ints (already ids). Sentences that tokenize to
    nothing and documents left empty are dropped. Returns a list of documents,
    each a list of 1-D int64 arrays.
    """
    if isinstance(documents, (str, bytes)) or not hasattr(documents, "__iter__"):
        raise TypeError("documents must be a list of documents, each a list of sentences; "
                        f"got {type(documents).__name__} (use numpy_bert.corpus.read_corpus(path) "
                        "to read a corpus file)")
    out = []
    cache = {}  # sentence text -> ids: docstrings repeat many sentences
    for d, document in enumerate(documents):
        if isinstance(document, (str, bytes)):
            raise TypeError(f"document {d} is a string; a document must be a list of sentences "
                            "(one sentence per line in a corpus file, a blank line between documents)")
        sentences = []
        for sentence in document:
            if isinstance(sentence, str):
                if tokenizer is None:
                    raise TypeError("documents hold text: pass a tokenizer (e.g. "
                                    "numpy_bert.BertTokenizer.from_pretrained(dir)) to tokenize them")
                ids = cache.get(sentence)
                if ids is None:
                    ids = cache[sentence] = np.asarray(
                        tokenizer.convert_tokens_to_ids(tokenizer.tokenize(sentence)), dtype=np.int64)
            elif len(sentence) and isinstance(sentence[0], str):
                if tokenizer is None:
                    raise TypeError("documents hold token strings: pass a tokenizer to convert them to ids")
                ids = tokenizer.convert_tokens_to_ids(list(sentence))
            else:
                ids = sentence
            ids = np.asarray(ids, dtype=np.int64).reshape(-1)
            if ids.size:
                sentences.append(ids)
        if sentences:
            out.append(sentences)
    return out


# ----------------------------------------------------------------------------------------
# 2. Sentence pairs for next sentence prediction


def _truncate_seq_pair_lengths(len_a, len_b, max_num_tokens):
    """Final lengths under google-research/bert's ``truncate_seq_pair`` rule, the loop
    "remove one token from the longer segment (from B on a tie) until the pair fits",
    computed without the loop. Not HuggingFace's truncation strategies of the tokenizer
    (``tokenization._lengths_after_truncation_strategy``)."""
    excess = len_a + len_b - max_num_tokens
    if excess <= 0:
        return len_a, len_b
    # first the longer one shrinks to the length of the shorter one ...
    step = min(abs(len_a - len_b), excess)
    if len_a > len_b:
        len_a -= step
    else:
        len_b -= step
    excess -= step
    # ... then they shrink in turn, B first: B loses ceil(excess / 2), A floor(excess / 2)
    return len_a - excess // 2, len_b - (excess + 1) // 2


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Truncate a pair of segments to at most ``max_num_tokens`` tokens in total.

    As google: a token is removed from the longer segment (B on a tie) until the
    pair fits, each time from its front or its back with probability 1/2 (so the
    model does not learn that text is always cut at the end). The number of tokens
    a segment loses from its front is therefore Binomial(removed, 1/2), drawn here
    in one call. Returns ``(tokens_a, tokens_b, (cut_a_front, cut_b_front))``.
    """
    len_a, len_b = _truncate_seq_pair_lengths(len(tokens_a), len(tokens_b), max_num_tokens)
    cuts = []
    out = []
    for tokens, keep in ((tokens_a, len_a), (tokens_b, len_b)):
        removed = len(tokens) - keep
        front = int(rng.binomial(removed, 0.5)) if removed else 0
        out.append(tokens[front:front + keep])
        cuts.append(front)
    return out[0], out[1], tuple(cuts)


def _pair_from_chunk(doc_index, first, end, flat_docs, target_seq_length, max_num_tokens, cls_id, sep_id,
                     rng):
    """Make one sentence pair out of the chunk of sentences ``first .. end - 1`` of a document.

    Returns ``(pair, num_unused)``: for a random B the sentences of the chunk after
    A are not used and go back to the document (``num_unused`` of them), as google.
    Positions are offsets in the document's flat token stream: A is
    ``flat[a_lo:boundary]`` and a true B is ``flat[boundary:starts[end]]``.
    """
    flat, starts = flat_docs[doc_index]  # tokens of the document, where each sentence starts
    num_sentences = end - first
    is_random_next = rng.random() >= 0.5
    if not is_random_next and num_sentences == 1 and first == 0 and starts[1] - starts[0] < 2:
        is_random_next = True  # a document of one one-token sentence has no A and B to offer
    num_unused = 0

    if not is_random_next:
        if num_sentences >= 2:  # A = the chunk's first sentences, B = the rest of the chunk
            a_end = int(rng.integers(first + 1, end))
            a_lo, boundary = starts[first], starts[a_end]
        elif first > 0:
            # A lone sentence (a document's last one, or one longer than the target):
            # it becomes B, and A the sentences before it, as many as fit the target.
            a_first = first - 1
            while a_first > 0 and starts[end] - starts[a_first - 1] <= target_seq_length:
                a_first -= 1
            a_lo, boundary = starts[a_first], starts[first]
        elif end < len(starts) - 1:
            # a document's first sentence, longer than the target: it becomes A and
            # B the sentences after it, as many as fit the target (at least one)
            b_end = end + 1
            while b_end < len(starts) - 1 and starts[b_end + 1] - starts[first] <= target_seq_length:
                b_end += 1
            a_lo, boundary, end = starts[first], starts[end], b_end
        else:  # a document of a single sentence: cut it at a random token
            a_lo = starts[first]
            boundary = a_lo + int(rng.integers(1, starts[end] - a_lo))
        tokens_a, tokens_b = flat[a_lo:boundary], flat[boundary:starts[end]]
        doc_b, b_lo = doc_index, boundary
    else:
        a_end = int(rng.integers(first + 1, end)) if num_sentences >= 2 else end
        a_lo, boundary = starts[first], starts[a_end]
        tokens_a = flat[a_lo:boundary]
        num_unused = end - a_end
        target_b_length = target_seq_length - len(tokens_a)  # B fills what A leaves of the target
        # B: whole sentences of another document, from a random sentence on, until B
        # reaches its target length (at least one sentence)
        doc_b = int(rng.integers(len(flat_docs) - 1))
        doc_b += doc_b >= doc_index  # uniform over the other documents
        flat_b, starts_b = flat_docs[doc_b]
        b_first = int(rng.integers(len(starts_b) - 1))
        b_end = b_first + 1
        while b_end < len(starts_b) - 1 and starts_b[b_end] - starts_b[b_first] < target_b_length:
            b_end += 1
        b_lo = starts_b[b_first]
        tokens_b = flat_b[b_lo:starts_b[b_end]]

    tokens_a, tokens_b, (cut_a, cut_b) = truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
    a_start, b_start = int(a_lo) + cut_a, int(b_lo) + cut_b
    source = (doc_index, a_start, a_start + len(tokens_a), doc_b, b_start, b_start + len(tokens_b),
              int(boundary))
    input_ids = np.concatenate([[cls_id], tokens_a, [sep_id], tokens_b, [sep_id]]).astype(np.int64)
    token_type_ids = np.zeros(len(input_ids), np.int64)
    token_type_ids[len(tokens_a) + 2:] = 1
    pair = SentencePair(input_ids, token_type_ids, NOT_NEXT if is_random_next else IS_NEXT, source)
    return pair, num_unused


def create_sentence_pairs(documents, max_seq_length, rng, short_seq_prob=0.1, dupe_factor=1,
                          cls_token_id=None, sep_token_id=None, tokenizer=None, shuffle=True):
    """Pack each document's sentences into ``[CLS] A [SEP] B [SEP]`` pairs (unmasked).

    ``documents``: list of documents of sentences as id arrays (see
    ``tokenize_documents``; text works too when ``tokenizer`` is given). Every
    document is walked ``dupe_factor`` times (different cuts each time). Pairs
    hold at most ``max_seq_length`` tokens; the list is shuffled when ``shuffle``.

    A property of google's recipe to know: a random B fills the target length A
    leaves, while a true B ends with its chunk, often at the end of a document
    shorter than the target (docstrings are short). Random pairs are therefore a
    little longer on average: on the default corpus at 128 tokens, a threshold on
    the length of the pair (or of B) alone predicts the NSP label 56% (58%) of the
    time; with google's forced random B for lone sentences it was 62%.
    """
    _check_rng(rng)
    if tokenizer is not None:
        cls_token_id = tokenizer.cls_token_id if cls_token_id is None else cls_token_id
        sep_token_id = tokenizer.sep_token_id if sep_token_id is None else sep_token_id
    if cls_token_id is None or sep_token_id is None:
        raise TypeError("create_sentence_pairs needs the [CLS] and [SEP] ids: pass tokenizer= "
                        "or cls_token_id= and sep_token_id=")
    max_seq_length = int(max_seq_length)
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length={max_seq_length} is too small: a pair needs [CLS] A [SEP] B [SEP], "
                         "at least 5 tokens (BERT uses 128 or 512)")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be a probability in [0, 1], got {short_seq_prob}")
    if int(dupe_factor) < 1:
        raise ValueError(f"dupe_factor must be a positive integer, got {dupe_factor}")
    documents = tokenize_documents(documents, tokenizer)
    if len(documents) == 0:
        raise ValueError("the corpus is empty: it needs documents of sentences (one sentence per line, "
                         "a blank line between documents)")
    if len(documents) < 2:
        raise ValueError("the corpus holds a single document, but next sentence prediction needs at least "
                         "two (a random B comes from another document): separate documents with a blank line")

    # every document once as one flat token stream + where each sentence starts in it
    flat_docs = []
    for document in documents:
        lengths = np.array([len(s) for s in document])
        flat_docs.append((np.concatenate(document), np.concatenate([[0], np.cumsum(lengths)])))

    max_num_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    pairs = []
    for _ in range(int(dupe_factor)):
        for doc_index in range(len(documents)):
            starts = flat_docs[doc_index][1]  # (S + 1,) where sentence s starts; starts[-1] = length
            num_sentences = len(starts) - 1
            # We usually fill the whole sequence (shorter ones waste the padding), but
            # sometimes use a shorter target to match the shorter fine-tuning inputs.
            target = max_num_tokens
            if rng.random() < short_seq_prob:
                target = int(rng.integers(2, max_num_tokens + 1))
            first, i = 0, 0  # the chunk is sentences first..i
            while i < num_sentences:
                if i == num_sentences - 1 or starts[i + 1] - starts[first] >= target:
                    pair, num_unused = _pair_from_chunk(doc_index, first, i + 1, flat_docs, target,
                                                        max_num_tokens, cls_token_id, sep_token_id, rng)
                    pairs.append(pair)
                    i -= num_unused  # the sentences not used for A start the next chunk
                    first = i + 1
                    target = max_num_tokens
                    if rng.random() < short_seq_prob:
                        target = int(rng.integers(2, max_num_tokens + 1))
                i += 1
    if shuffle:
        pairs = [pairs[k] for k in rng.permutation(len(pairs))]
    return pairs


# ----------------------------------------------------------------------------------------
# 3. Masked language model


_BRACKETED = re.compile(r"^\[[^\]]*\]$")  # [CLS], [unused12], ...


class Masking:
    """BERT's masked-LM recipe, bound to one vocabulary.

    ``masking = Masking(tokenizer)`` reads from the tokenizer which ids are special
    (never predicted, never a random replacement), which tokens are ``[unused*]``
    or other bracketed tokens (never a random replacement) and which are "##"
    continuation pieces (for whole-word masking). Then:

    - ``masking.mask_ids(ids, rng)`` masks one sequence,
    - ``masking.mask_instances(pairs, rng)`` masks a list of pairs/instances (re-run it
      every epoch on the unmasked pairs for dynamic masking),
    - ``masking.mask_batch(batch, rng)`` re-masks a collated batch of arrays.
    """

    def __init__(self, tokenizer, masked_lm_prob=0.15, max_predictions_per_seq=20,
                 whole_word_masking=False, mask_prob=0.8, random_prob=0.1):
        for name, p in (("masked_lm_prob", masked_lm_prob), ("mask_prob", mask_prob),
                        ("random_prob", random_prob)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if mask_prob + random_prob > 1.0 + 1e-12:
            raise ValueError(f"mask_prob + random_prob = {mask_prob + random_prob} exceeds 1; the rest "
                             "(1 - mask_prob - random_prob) is the probability to keep the token")
        if int(max_predictions_per_seq) < 1:
            raise ValueError(f"max_predictions_per_seq must be at least 1, got {max_predictions_per_seq}")
        self.masked_lm_prob = float(masked_lm_prob)
        self.max_predictions_per_seq = int(max_predictions_per_seq)
        self.whole_word_masking = bool(whole_word_masking)
        self.mask_prob = float(mask_prob)
        self.random_prob = float(random_prob)

        vocab = tokenizer.vocab  # token -> id
        size = max(max(vocab.values()) + 1, int(getattr(tokenizer, "vocab_size", 0) or 0))
        special = {int(i) for i in tokenizer.all_special_ids}
        special |= {int(tokenizer.cls_token_id), int(tokenizer.sep_token_id), int(tokenizer.pad_token_id),
                    int(tokenizer.mask_token_id)}
        self.mask_token_id = int(tokenizer.mask_token_id)
        self.pad_token_id = int(tokenizer.pad_token_id)
        self.can_predict = np.ones(size, dtype=bool)  # (V,) may this id be picked for prediction?
        self.can_predict[sorted(special)] = False
        self.is_continuation = np.zeros(size, dtype=bool)  # (V,) is this a "##" piece?
        replaceable = np.zeros(size, dtype=bool)
        for token, i in vocab.items():
            if token.startswith("##"):
                self.is_continuation[i] = True
            replaceable[i] = not _BRACKETED.match(token)
        replaceable[sorted(special)] = False
        self.random_ids = np.flatnonzero(replaceable)  # ids a random replacement is drawn from
        if len(self.random_ids) == 0:
            raise ValueError("the vocabulary has no ordinary token to use as a random replacement")

    def num_to_predict(self, n):
        """How many positions a sequence of ``n`` tokens gets: min(max_pred, max(1, round(p * n)))."""
        return min(self.max_predictions_per_seq, max(1, int(round(n * self.masked_lm_prob))))

    def _pick_positions(self, ids, rng):
        """Choose the positions to predict, sorted. ids: (n,) int64."""
        candidates = np.flatnonzero(self.can_predict[ids])  # never [CLS], [SEP], [PAD], ...
        k = min(self.num_to_predict(len(ids)), len(candidates))
        if not self.whole_word_masking:
            return np.sort(rng.permutation(candidates)[:k])
        # whole words: a word is a candidate followed by its "##" pieces (a piece right
        # after a special token starts a word of its own)
        starts = np.ones(len(candidates), dtype=bool)
        starts[1:] = ~(self.is_continuation[ids[candidates[1:]]] & (np.diff(candidates) == 1))
        words = np.split(candidates, np.flatnonzero(starts)[1:])
        picked, count = [], 0
        for w in rng.permutation(len(words)):
            if count >= k:
                break
            if count + len(words[w]) > k:
                continue  # this word would overshoot: skip it, try a shorter one (google)
            picked.append(words[w])
            count += len(words[w])
        return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)

    def mask_ids(self, ids, rng):
        """Mask one sequence. ids: (n,) unmasked ids with [CLS]/[SEP].

        Returns ``(masked_ids (n,), positions (M,), labels (M,))``: labels are the
        original ids at the picked positions. Each picked token becomes [MASK]
        with probability mask_prob, a random ordinary token with probability
        random_prob, and stays itself otherwise (it is still predicted).
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.can_predict)):
            bad = int(ids.max() if ids.max() >= len(self.can_predict) else ids.min())
            raise ValueError(f"token id {bad} is outside the vocabulary (size {len(self.can_predict)}): the "
                             "documents were tokenized with another vocabulary than the tokenizer given here")
        positions = self._pick_positions(ids, rng)  # (M,)
        u = rng.random(len(positions))  # (M,) one uniform draw decides each token's fate
        replacement = self.random_ids[rng.integers(len(self.random_ids), size=len(positions))]  # (M,)
        masked = ids.copy()
        to_mask = u < self.mask_prob
        to_random = (u >= self.mask_prob) & (u < self.mask_prob + self.random_prob)
        masked[positions[to_mask]] = self.mask_token_id
        masked[positions[to_random]] = replacement[to_random]
        return masked, positions, ids[positions]

    def mask_instances(self, pairs, rng):
        """Mask every pair (SentencePair or TrainingInstance, whose labels are put
        back first) and return new TrainingInstances; the input is not changed.
        Called once per epoch on the same pairs, this is dynamic masking."""
        _check_rng(rng)
        out = []
        for pair in pairs:
            ids = pair.original_ids() if isinstance(pair, TrainingInstance) else pair.input_ids
            masked, positions, labels = self.mask_ids(ids, rng)
            out.append(TrainingInstance(masked, pair.token_type_ids, pair.next_sentence_label,
                                        positions, labels, pair.source))
        return out

    def mask_batch(self, batch, rng):
        """Re-mask a collated batch (dict of arrays from ``collate``), as HF's data
        collator does on the fly. Positions with a label get their original id back
        first, so a batch can be re-masked any number of times. Returns a new dict."""
        _check_rng(rng)
        input_ids = np.array(batch["input_ids"], dtype=np.int64)  # (B, T) copy
        if "labels" in batch:
            labels = np.asarray(batch["labels"])
            has_label = labels != IGNORE_INDEX
            input_ids[has_label] = labels[has_label]
        lengths = np.asarray(batch["attention_mask"]).sum(axis=1)
        new_labels = np.full(input_ids.shape, IGNORE_INDEX, dtype=np.int64)  # (B, T)
        for b in range(input_ids.shape[0]):
            n = int(lengths[b])
            masked, positions, original = self.mask_ids(input_ids[b, :n], rng)
            input_ids[b, :n] = masked
            new_labels[b, positions] = original
        out = dict(batch)
        out["input_ids"], out["labels"] = input_ids, new_labels
        return out


def create_training_instances(documents, tokenizer, max_seq_length=128, rng=None, short_seq_prob=0.1,
                              dupe_factor=10, masked_lm_prob=0.15, max_predictions_per_seq=20,
                              whole_word_masking=False, mask_prob=0.8, random_prob=0.1, mask=True):
    """Build BERT pretraining instances from documents (google's recipe).

    ``documents``: list of documents, each a list of sentences (text, token
    strings or ids). ``rng``: a numpy Generator (required: it fixes the data).
    Returns a shuffled list of ``TrainingInstance`` (``dupe_factor`` passes over the
    corpus, each with its own cuts and masks); with ``mask=False`` the unmasked
    ``SentencePair`` list instead, for dynamic masking with ``Masking.mask_instances``.

        >>> rng = np.random.default_rng(0)
        >>> instances = create_training_instances(docs, tokenizer, 128, rng, dupe_factor=5)
        >>> batch = collate(instances[:32], 128)   # input_ids (32, 128), labels, ...
    """
    _check_rng(rng)
    masking = Masking(tokenizer, masked_lm_prob, max_predictions_per_seq, whole_word_masking,
                      mask_prob, random_prob) if mask else None
    pairs = create_sentence_pairs(tokenize_documents(documents, tokenizer), max_seq_length, rng,
                                  short_seq_prob=short_seq_prob, dupe_factor=dupe_factor,
                                  tokenizer=tokenizer)
    return masking.mask_instances(pairs, rng) if mask else pairs


# ----------------------------------------------------------------------------------------
# 4. Batches


def collate(instances, max_seq_length, pad_token_id=0):
    """Stack instances into padded arrays (T = max_seq_length).

    Returns a dict: ``input_ids``, ``token_type_ids``, ``attention_mask`` (B, T)
    int64; ``labels`` (B, T) int64, the original id at predicted positions and
    -100 elsewhere (all -100 for unmasked SentencePairs); ``next_sentence_label``
    (B,) int64, 0 = IsNext, 1 = random.
    """
    B, T = len(instances), int(max_seq_length)
    if B == 0:
        raise ValueError("collate needs at least one instance")
    input_ids = np.full((B, T), pad_token_id, dtype=np.int64)  # (B, T)
    token_type_ids = np.zeros((B, T), dtype=np.int64)  # (B, T)
    attention_mask = np.zeros((B, T), dtype=np.int64)  # (B, T)
    labels = np.full((B, T), IGNORE_INDEX, dtype=np.int64)  # (B, T)
    next_sentence_label = np.zeros(B, dtype=np.int64)  # (B,)
    for b, inst in enumerate(instances):
        n = len(inst.input_ids)
        if n > T:
            raise ValueError(f"instance {b} has {n} tokens, more than max_seq_length={T}: build the "
                             "instances with the same max_seq_length as the batches")
        input_ids[b, :n] = inst.input_ids
        token_type_ids[b, :n] = inst.token_type_ids
        attention_mask[b, :n] = 1
        if isinstance(inst, TrainingInstance):
            labels[b, inst.masked_positions] = inst.masked_labels
        next_sentence_label[b] = inst.next_sentence_label
    return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask,
            "labels": labels, "next_sentence_label": next_sentence_label}


def batches(instances, batch_size, max_seq_length, rng=None, drop_last=False, pad_token_id=0):
    """Yield collated batches of ``batch_size`` instances, in a random order when
    ``rng`` is given (one pass = one epoch), else in order."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    order = rng.permutation(len(instances)) if rng is not None else np.arange(len(instances))
    for start in range(0, len(order), int(batch_size)):
        idx = order[start:start + int(batch_size)]
        if drop_last and len(idx) < batch_size:
            return
        yield collate([instances[k] for k in idx], max_seq_length, pad_token_id)
