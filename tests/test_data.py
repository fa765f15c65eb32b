"""Tests of BERT's pretraining data recipe (numpy_bert.data).

Most tests run on a synthetic corpus whose token ids count up through each
document (document 0 is ids 1000, 1001, ..., document 1 goes on from there), so
that consecutive text can be read off the ids themselves: B follows A in the
source exactly when B's first id is A's last id + 1. Statistical checks use
thousands of instances; each tolerance is 5 binomial standard deviations,
sqrt(p (1 - p) / N), so a correct recipe fails with probability below 1e-6 and
the seeds are fixed anyway.
"""

import inspect
import math

import numpy as np
import pytest

from numpy_bert.data import (IGNORE_INDEX, IS_NEXT, NOT_NEXT, Masking, SentencePair, TrainingInstance,
                             _pair_from_chunk,
                             batches, collate, create_sentence_pairs, create_training_instances,
                             tokenize_documents, truncate_seq_pair)

PAD, UNK, CLS, SEP, MASK = 0, 100, 101, 102, 103
FIRST_WORD = 1000  # ids below this are special or [unused*] (1..99) or "w104".."w999" fillers


class TinyTokenizer:
    """The slice of BertTokenizer's API that data.py uses, over a synthetic vocab.

    Layout like bert-base: [PAD] 0, [unused0..98] 1..99, [UNK] 100, [CLS] 101,
    [SEP] 102, [MASK] 103, then ordinary tokens; every id = 1 (mod 3) from 104 on
    is a "##" continuation piece. Text is split on spaces, each word being "w<id>"
    or "##w<id>".
    """

    def __init__(self, vocab_size):
        tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tokens += [("##w" if i % 3 == 1 else "w") + str(i) for i in range(len(tokens), vocab_size)]
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.vocab_size = vocab_size
        self.pad_token_id, self.unk_token_id, self.cls_token_id = PAD, UNK, CLS
        self.sep_token_id, self.mask_token_id = SEP, MASK
        self.all_special_ids = [PAD, UNK, CLS, SEP, MASK]

    def tokenize(self, text):
        return text.split()

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, UNK) for t in tokens]


def counting_corpus(num_docs, seed, max_sentences=8, max_sentence_len=30, unk_every=0):
    """Documents of sentences of consecutive ids; with unk_every=k, every k-th token is [UNK]."""
    rng = np.random.default_rng(seed)
    docs, next_id = [], FIRST_WORD
    for _ in range(num_docs):
        doc = []
        for _ in range(int(rng.integers(1, max_sentences + 1))):
            n = int(rng.integers(1, max_sentence_len + 1))
            ids = np.arange(next_id, next_id + n)
            if unk_every:
                ids[ids % unk_every == 0] = UNK
            doc.append(ids.tolist())
            next_id += n
        docs.append(doc)
    return docs, next_id


@pytest.fixture(scope="module")
def corpus():
    docs, end = counting_corpus(300, seed=7)
    return docs, TinyTokenizer(end + 50)


@pytest.fixture(scope="module")
def pairs(corpus):
    docs, tok = corpus
    return create_sentence_pairs(docs, 48, np.random.default_rng(1), dupe_factor=10, tokenizer=tok)


def split_pair(input_ids, token_type_ids):
    """(A, B) of one [CLS] A [SEP] B [SEP] sequence, checking the layout."""
    n = len(input_ids)
    a_len = int((token_type_ids == 0).sum()) - 2
    assert input_ids[0] == CLS and input_ids[a_len + 1] == SEP and input_ids[n - 1] == SEP
    assert (token_type_ids[:a_len + 2] == 0).all() and (token_type_ids[a_len + 2:] == 1).all()
    return input_ids[1:a_len + 1], input_ids[a_len + 2:n - 1]


def tol(p, n, sigmas=5.0):
    return sigmas * math.sqrt(p * (1 - p) / n)


# ---------------------------------------------------------------------------------------
# sentence pairs


def test_pairs_layout_and_lengths(pairs):
    assert len(pairs) > 3000
    for pair in pairs:
        assert len(pair.input_ids) <= 48
        a, b = split_pair(pair.input_ids, pair.token_type_ids)
        assert len(a) >= 1 and len(b) >= 1
        assert not np.isin(a, [CLS, SEP, PAD, MASK]).any() and not np.isin(b, [CLS, SEP, PAD, MASK]).any()


def test_segments_are_contiguous_text_and_isnext_pairs_consecutive(corpus, pairs):
    docs, _ = corpus
    flat = [np.concatenate([np.asarray(s) for s in d]) for d in docs]
    doc_of = {int(t): d for d, f in enumerate(flat) for t in f}
    adjacent = 0
    for pair in pairs:
        a, b = split_pair(pair.input_ids, pair.token_type_ids)
        # each segment is a contiguous run of one document (ids count up by one)
        assert (np.diff(a) == 1).all() and (np.diff(b) == 1).all()
        same_doc = doc_of[int(a[0])] == doc_of[int(b[0])]
        if pair.next_sentence_label == IS_NEXT:
            assert same_doc and b[0] > a[-1]
            adjacent += b[0] == a[-1] + 1
            # the gap can only come from truncation at A's back or B's front
            da, a0, a1, db, b0, b1, boundary = pair.source
            assert a1 <= boundary <= b0
            assert (b[0] == a[-1] + 1) == (a1 == boundary == b0)
        else:
            assert pair.next_sentence_label == NOT_NEXT and not same_doc
        # the recorded source spans are what the pair holds
        da, a0, a1, db, b0, b1, _ = pair.source
        assert (flat[da][a0:a1] == a).all() and (flat[db][b0:b1] == b).all()
    assert adjacent > 0.5 * sum(p.next_sentence_label == IS_NEXT for p in pairs)


def test_isnext_pairs_are_adjacent_when_not_truncated(corpus):
    docs, tok = corpus
    # long sequences: pairs fit without truncation most of the time
    pairs = create_sentence_pairs(docs, 512, np.random.default_rng(3), dupe_factor=3, tokenizer=tok)
    checked = 0
    for pair in pairs:
        a, b = split_pair(pair.input_ids, pair.token_type_ids)
        if pair.next_sentence_label == IS_NEXT and len(pair.input_ids) < 512:
            assert b[0] == a[-1] + 1
            checked += 1
    assert checked > 300


def test_isnext_pairs_cut_between_sentences(corpus):
    docs, tok = corpus
    # documents of at least two sentences: A and B are always whole sentences, even
    # for a lone last sentence (it becomes B, the sentences before it A)
    docs = [d for d in docs if len(d) >= 2]
    starts = [set(np.cumsum([0] + [len(s) for s in d]).tolist()) for d in docs]
    pairs = create_sentence_pairs(docs, 48, np.random.default_rng(4), dupe_factor=5, tokenizer=tok)
    isnext = [p for p in pairs if p.next_sentence_label == IS_NEXT]
    assert len(isnext) > 1000
    assert all(p.source[6] in starts[p.source[0]] for p in isnext)


def test_nsp_split_is_half_and_half(pairs):
    n = len(pairs)
    frac = np.mean([p.next_sentence_label == NOT_NEXT for p in pairs])
    assert abs(frac - 0.5) < tol(0.5, n), (frac, n)


def test_short_seq_prob_makes_a_fraction_of_short_pairs():
    # one-token sentences: a chunk closes exactly at its target length, so an IsNext
    # pair that does not reach its document's end holds target + 3 tokens
    docs = [[[FIRST_WORD + 3000 * d + s] for s in range(3000)] for d in range(20)]
    tok = TinyTokenizer(FIRST_WORD + 60000)
    for prob in (0.0, 0.3):
        pairs = create_sentence_pairs(docs, 64, np.random.default_rng(5), short_seq_prob=prob,
                                      dupe_factor=2, tokenizer=tok)
        inner = [p for p in pairs if p.next_sentence_label == IS_NEXT and p.source[5] < 3000]
        short = np.mean([len(p.input_ids) < 64 for p in inner])
        # a short target is uniform on 2..61 tokens: below the full 61 with probability 59/60
        expected = prob * 59 / 60
        assert len(inner) > 800
        assert abs(short - expected) <= tol(expected, len(inner)), (prob, short, expected)


def test_truncate_seq_pair_removes_from_longer_segment_at_random_ends():
    rng = np.random.default_rng(0)
    fronts = []
    for _ in range(2000):
        a, b = np.arange(10), np.arange(100, 130)
        ta, tb, (ca, cb) = truncate_seq_pair(a, b, 20, rng)
        assert len(ta) == 10 and len(tb) == 10  # only the longer one loses tokens, down to a tie
        assert ca == 0 and (tb == b[cb:cb + 10]).all()
        fronts.append(cb)
    # each of the 20 removed tokens comes from the front with probability 1/2
    mean = np.mean(fronts)
    assert abs(mean - 10) < 5 * math.sqrt(20 * 0.25 / 2000)
    ta, tb, _ = truncate_seq_pair(np.arange(7), np.arange(7), 9, rng)
    assert (len(ta), len(tb)) == (5, 4)  # ties: B first, then in turn


def test_sentences_longer_than_the_sequence_are_truncated_not_a_crash():
    tok = TinyTokenizer(FIRST_WORD + 3000)
    docs = [[list(range(FIRST_WORD, FIRST_WORD + 1000))],
            [list(range(FIRST_WORD + 1000, FIRST_WORD + 1500)), list(range(FIRST_WORD + 1500, FIRST_WORD + 2900))]]
    instances = create_training_instances(docs, tok, 16, np.random.default_rng(0), dupe_factor=20)
    assert len(instances) == 60
    for inst in instances:
        assert len(inst.input_ids) == 16
    labels = [i.next_sentence_label for i in instances]
    assert 0 < sum(labels) < len(labels)  # one-sentence documents still give IsNext pairs (cut mid-sentence)


def test_same_seed_same_instances_and_different_seed_differs(corpus):
    docs, tok = corpus
    make = lambda seed: create_training_instances(docs[:80], tok, 40, np.random.default_rng(seed), dupe_factor=2)
    one, two, other = make(11), make(11), make(12)
    assert len(one) == len(two)
    for x, y in zip(one, two):
        assert (x.input_ids == y.input_ids).all() and (x.token_type_ids == y.token_type_ids).all()
        assert (x.masked_positions == y.masked_positions).all() and (x.masked_labels == y.masked_labels).all()
        assert x.next_sentence_label == y.next_sentence_label and x.source == y.source
    assert any(len(x.input_ids) != len(z.input_ids) or (x.input_ids != z.input_ids).any()
               for x, z in zip(one, other))


def test_text_documents_need_a_tokenizer_and_tokenize_like_ids(corpus):
    docs, tok = corpus
    text = [[" ".join(f"w{i}" if i % 3 != 1 else f"##w{i}" for i in s) for s in d] for d in docs[:20]]
    as_ids = tokenize_documents(docs[:20])
    as_text = tokenize_documents(text, tok)
    assert all((x == y).all() for dx, dy in zip(as_ids, as_text) for x, y in zip(dx, dy))
    with pytest.raises(TypeError, match="tokenizer"):
        tokenize_documents(text)


def test_bad_corpora_raise_clear_errors(corpus):
    _, tok = corpus
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="empty"):
        create_training_instances([], tok, 32, rng)
    with pytest.raises(ValueError, match="empty"):
        create_training_instances([[], [[]]], tok, 32, rng)  # documents with nothing in them
    with pytest.raises(ValueError, match="single document.*two"):
        create_training_instances([[[FIRST_WORD, FIRST_WORD + 1], [FIRST_WORD + 2]]], tok, 32, rng)
    with pytest.raises(ValueError, match="max_seq_length"):
        create_training_instances([[[FIRST_WORD]], [[FIRST_WORD + 1]]], tok, 4, rng)
    with pytest.raises(TypeError, match="Generator"):
        create_training_instances([[[FIRST_WORD]], [[FIRST_WORD + 1]]], tok, 32, rng=0)
    with pytest.raises(TypeError, match="list of sentences"):
        create_training_instances(["one document as a string", "another"], tok, 32, rng)
    with pytest.raises(ValueError, match="mask_prob"):
        Masking(tok, mask_prob=0.8, random_prob=0.3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        create_training_instances([[[FIRST_WORD]], [[tok.vocab_size + 5]]], tok, 32, rng)


# ---------------------------------------------------------------------------------------
# masking


@pytest.fixture(scope="module")
def unk_corpus():
    docs, end = counting_corpus(300, seed=8, unk_every=13)
    return docs, TinyTokenizer(end + 50)


@pytest.fixture(scope="module")
def instances(unk_corpus):
    docs, tok = unk_corpus
    return create_training_instances(docs, tok, 48, np.random.default_rng(2), dupe_factor=10,
                                     max_predictions_per_seq=5)


def test_number_of_predictions_follows_the_formula(instances):
    assert len(instances) > 3000
    capped = 0
    for inst in instances:
        n = len(inst.input_ids)
        candidates = int((~np.isin(inst.original_ids(), [PAD, UNK, CLS, SEP, MASK])).sum())
        expected = min(5, max(1, int(round(0.15 * n))), candidates)
        assert len(inst.masked_positions) == expected
        capped += expected == 5
    assert capped > 100  # the max_predictions_per_seq cap was exercised


def test_special_tokens_are_never_predicted(instances):
    for inst in instances:
        assert not np.isin(inst.masked_labels, [PAD, UNK, CLS, SEP, MASK]).any()
        assert (np.diff(inst.masked_positions) > 0).all()
        original = inst.original_ids()
        # [CLS], [SEP] and [UNK] are where they were, unchanged
        keep = np.isin(original, [CLS, SEP, UNK])
        assert (inst.input_ids[keep] == original[keep]).all()


def test_masked_fraction_over_thousands_of_instances(unk_corpus):
    docs, tok = unk_corpus
    instances = create_training_instances(docs, tok, 64, np.random.default_rng(4), dupe_factor=5,
                                          max_predictions_per_seq=64)
    predicted = sum(len(i.masked_positions) for i in instances)
    total = sum(len(i.input_ids) for i in instances)
    # round(0.15 n) per sequence: the overall fraction is 0.15 up to rounding (at most 0.5 / n per sequence)
    assert abs(predicted / total - 0.15) < 0.5 * len(instances) / total + 1e-9


def test_80_10_10_split(instances, unk_corpus):
    _, tok = unk_corpus
    masking = Masking(tok)
    num_random_ids = len(masking.random_ids)
    inputs = np.concatenate([i.input_ids[i.masked_positions] for i in instances])
    labels = np.concatenate([i.masked_labels for i in instances])
    n = len(labels)
    assert n > 15000
    frac_mask = np.mean(inputs == MASK)
    frac_same = np.mean(inputs == labels)
    frac_other = np.mean((inputs != MASK) & (inputs != labels))
    # a random replacement equals the original token with probability 1 / num_random_ids
    p_same = 0.1 + 0.1 / num_random_ids
    p_other = 0.1 * (1 - 1 / num_random_ids)
    assert abs(frac_mask - 0.8) < tol(0.8, n)
    assert abs(frac_same - p_same) < tol(p_same, n)
    assert abs(frac_other - p_other) < tol(p_other, n)


def test_probabilities_are_parameters(unk_corpus):
    docs, tok = unk_corpus
    instances = create_training_instances(docs, tok, 48, np.random.default_rng(6), dupe_factor=4,
                                          mask_prob=0.5, random_prob=0.3)
    inputs = np.concatenate([i.input_ids[i.masked_positions] for i in instances])
    labels = np.concatenate([i.masked_labels for i in instances])
    n = len(labels)
    assert abs(np.mean(inputs == MASK) - 0.5) < tol(0.5, n)
    assert abs(np.mean((inputs != MASK) & (inputs != labels)) - 0.3) < tol(0.3, n) + 0.3 / 1000


def test_random_replacements_are_ordinary_tokens_drawn_uniformly():
    # a small vocabulary so that every token is drawn many times
    tok = TinyTokenizer(FIRST_WORD + 60)
    docs = [[list(range(FIRST_WORD + 10 * d, FIRST_WORD + 10 * d + 10)) for _ in range(3)] for d in range(5)]
    instances = create_training_instances(docs, tok, 40, np.random.default_rng(9), dupe_factor=400,
                                          mask_prob=0.0, random_prob=1.0)
    replaced = np.concatenate([i.input_ids[i.masked_positions] for i in instances])
    assert not np.isin(replaced, [PAD, UNK, CLS, SEP, MASK]).any()
    assert (replaced >= 104).all()  # never [unused*]
    counts = np.bincount(replaced - 104, minlength=FIRST_WORD + 60 - 104)
    expected = len(replaced) / len(counts)  # uniform over the 956 ordinary ids
    assert (counts > 0).all()
    assert abs(counts.std() - math.sqrt(expected)) < 0.2 * math.sqrt(expected)  # Poisson-like spread


def test_whole_word_masking_masks_whole_words(unk_corpus):
    docs, tok = unk_corpus
    instances = create_training_instances(docs[:150], tok, 48, np.random.default_rng(10), dupe_factor=4,
                                          whole_word_masking=True)
    is_piece = lambda ids: (ids >= 104) & (ids % 3 == 1)
    multi_piece_words = 0
    for inst in instances:
        original = inst.original_ids()
        starts = ~is_piece(original)  # a word starts at every token that is not a "##" piece ...
        starts[1:] |= np.isin(original[:-1], [CLS, SEP])  # ... and right after [CLS] / [SEP]
        word = np.cumsum(starts)  # (n,) word number of each token
        for w in set(word[inst.masked_positions]):
            members = np.flatnonzero(word == w)
            members = members[~np.isin(original[members], [CLS, SEP, UNK, PAD])]
            assert np.isin(members, inst.masked_positions).all(), (original, inst.masked_positions)
            multi_piece_words += len(members) > 1
        assert len(inst.masked_positions) <= min(20, max(1, round(0.15 * len(original))))
    assert multi_piece_words > 500


def test_dynamic_masking_changes_every_epoch_and_keeps_the_pairs(pairs, corpus):
    _, tok = corpus
    masking = Masking(tok)
    rng = np.random.default_rng(0)
    subset = pairs[:500]
    epoch1 = masking.mask_instances(subset, rng)
    epoch2 = masking.mask_instances(subset, rng)
    again = masking.mask_instances(epoch1, rng)  # masked instances are unmasked first
    differ = 0
    for p, x, y, z in zip(subset, epoch1, epoch2, again):
        assert (x.original_ids() == p.input_ids).all() and (y.original_ids() == p.input_ids).all()
        assert (z.original_ids() == p.input_ids).all()
        differ += len(x.masked_positions) != len(y.masked_positions) or (x.masked_positions != y.masked_positions).any()
    assert differ > 0.9 * len(subset)
    assert isinstance(pairs[0], SentencePair) and isinstance(epoch1[0], TrainingInstance)


def test_mask_batch_remasks_a_collated_batch(pairs, corpus):
    _, tok = corpus
    masking = Masking(tok)
    rng = np.random.default_rng(1)
    plain = collate(pairs[:64], 48)
    assert (plain["labels"] == IGNORE_INDEX).all()
    first = masking.mask_batch(plain, rng)
    second = masking.mask_batch(first, rng)
    for batch in (first, second):
        restored = batch["input_ids"].copy()
        has = batch["labels"] != IGNORE_INDEX
        restored[has] = batch["labels"][has]
        assert (restored == plain["input_ids"]).all()
        assert (batch["labels"][plain["attention_mask"] == 0] == IGNORE_INDEX).all()
        assert not np.isin(plain["input_ids"][has], [CLS, SEP, PAD]).any()
    assert (first["labels"] != second["labels"]).any()


# ---------------------------------------------------------------------------------------
# batches


def test_collate_shapes_dtypes_and_labels(instances):
    batch = collate(instances[:37], 48, pad_token_id=PAD)
    for key in ("input_ids", "token_type_ids", "attention_mask", "labels"):
        assert batch[key].shape == (37, 48) and batch[key].dtype == np.int64
    assert batch["next_sentence_label"].shape == (37,) and batch["next_sentence_label"].dtype == np.int64
    for b, inst in enumerate(instances[:37]):
        n = len(inst.input_ids)
        assert (batch["attention_mask"][b, :n] == 1).all() and (batch["attention_mask"][b, n:] == 0).all()
        assert (batch["input_ids"][b, n:] == PAD).all()
        expected = np.full(48, IGNORE_INDEX)
        expected[inst.masked_positions] = inst.masked_labels
        assert (batch["labels"][b] == expected).all()  # -100 exactly where nothing is predicted
        assert batch["next_sentence_label"][b] == inst.next_sentence_label
    with pytest.raises(ValueError, match="max_seq_length"):
        collate(instances[:2], 8)


def test_batches_cover_an_epoch(instances):
    got = list(batches(instances[:100], 32, 48, rng=np.random.default_rng(0)))
    assert [len(b["next_sentence_label"]) for b in got] == [32, 32, 32, 4]
    assert len(list(batches(instances[:100], 32, 48, drop_last=True))) == 3
    total = sum(int(b["next_sentence_label"].sum()) for b in got)
    assert total == sum(i.next_sentence_label for i in instances[:100])


# ---------------------------------------------------------------------------------------
# with the real WordPiece tokenizer and vocabulary


def test_text_documents_with_a_real_vocab(minilm_path):
    tokenization = pytest.importorskip("numpy_bert.tokenization")
    tok = tokenization.BertTokenizer.from_pretrained(minilm_path)
    documents = [
        ["The quick brown fox jumps over the lazy dog.", "It was unaffable, but happy.",
         "Nobody saw it happen."],
        ["Return the sum of the array elements.", "The sum is taken over the flattened array.",
         "Integers are promoted to the default platform integer."],
        ["Assignments to __debug__ are illegal.", "The value is determined when the interpreter starts."],
    ] * 30
    instances = create_training_instances(documents, tok, 24, np.random.default_rng(0), dupe_factor=10,
                                          whole_word_masking=True)
    special = set(tok.all_special_ids)
    unused = {i for t, i in tok.vocab.items() if t.startswith("[unused")}
    words = {i for d in documents[:3] for s in d for i in tok.encode(s, add_special_tokens=False)}
    for inst in instances:
        original = inst.original_ids()
        assert original[0] == tok.cls_token_id and original[-1] == tok.sep_token_id
        assert len(original) <= 24
        assert not special & set(inst.masked_labels.tolist())
        assert set(original.tolist()) - special <= words  # every token comes from the text
        replaced = set(inst.input_ids[inst.masked_positions].tolist()) - {tok.mask_token_id}
        assert not replaced & (special | unused)
    # "unaffable" is several WordPieces: whole-word masking predicts all of them or none
    pieces = tok.encode("unaffable", add_special_tokens=False)
    assert len(pieces) > 1
    whole = 0
    for inst in instances:
        original = inst.original_ids().tolist()
        for k in range(len(original) - len(pieces) + 1):
            if original[k:k + len(pieces)] == pieces:
                picked = [k + j in set(inst.masked_positions.tolist()) for j in range(len(pieces))]
                assert all(picked) or not any(picked)
                whole += all(picked)
    assert whole > 5


# -- found by mutation testing (docs/mutation.md): behaviours a surviving mutant changed and
# -- no test checked; the comment above each test names the mutant(s)

# Masking._pick_positions (whole words): exactly k positions, and every word can be picked
# (the first two words are words of their own, not one)
@pytest.mark.parametrize("prob, max_pred, k", [(0.15, 1, 1), (0.3, 20, 3)])
def test_whole_word_masking_picks_exactly_k_and_every_word_can_be_picked(prob, max_pred, k):
    masking = Masking(TinyTokenizer(1200), masked_lm_prob=prob, max_predictions_per_seq=max_pred,
                      whole_word_masking=True)
    words = [i for i in range(FIRST_WORD, 1200) if i % 3 != 1][:9]  # one-piece words
    ids = np.array([CLS, *words, SEP])
    assert masking.num_to_predict(len(ids)) == k
    seen = set()
    for seed in range(200):
        _, positions, _ = masking.mask_ids(ids, np.random.default_rng(seed))
        assert len(positions) == k
        seen.update(positions.tolist())
    assert seen == set(range(1, 10))


# collate: the message for no instances
def test_collate_of_nothing_says_so():
    with pytest.raises(ValueError, match="^collate needs at least one instance$"):
        collate([], 8)


# Masking._pick_positions (whole words): nothing to predict gives empty int64 positions
def test_whole_word_masking_of_a_sequence_with_nothing_to_predict():
    masking = Masking(TinyTokenizer(1200), whole_word_masking=True)
    masked, positions, labels = masking.mask_ids(np.array([CLS, SEP]), np.random.default_rng(0))
    assert masked.tolist() == [CLS, SEP] and positions.dtype == np.int64 and labels.dtype == np.int64
    assert positions.size == 0 and labels.size == 0


# _pair_from_chunk: a lone last sentence becomes B and A the sentences before it, as many as fit
def test_a_lone_last_sentence_gets_as_many_sentences_before_it_as_fit_the_target():
    flat, starts = np.arange(1000, 1014), np.array([0, 3, 6, 9, 14])  # sentences of 3, 3, 3, 5 tokens
    seed = next(s for s in range(100) if np.random.default_rng(s).random() < 0.5)  # an IsNext draw
    pair, unused = _pair_from_chunk(0, 3, 4, [(flat, starts)], 12, 20, CLS, SEP, np.random.default_rng(seed))
    # 5 + 3 + 3 = 11 fits 12, 5 + 3 + 3 + 3 = 14 does not: A = sentences 1 and 2
    assert pair.input_ids.tolist() == [CLS, *range(1003, 1009), SEP, *range(1009, 1014), SEP]
    assert pair.next_sentence_label == IS_NEXT and unused == 0
    assert pair.source == (0, 3, 9, 0, 9, 14, 9)


# Masking.mask_ids: the message says what went wrong
def test_an_id_outside_the_vocabulary_says_the_documents_used_another_vocabulary():
    masking = Masking(TinyTokenizer(1200))
    with pytest.raises(ValueError, match=r"^token id 1200 is outside the vocabulary \(size 1200\): the documents "
                                         r"were tokenized with another vocabulary than the tokenizer given here$"):
        masking.mask_ids(np.array([CLS, 1200, SEP]), np.random.default_rng(0))


# _pair_from_chunk: a random B runs on to the other document's last sentence when the target
# leaves room; token types are int64, as SentencePair says
def test_a_random_b_runs_to_the_end_of_the_other_document_when_there_is_room():
    docs = [(np.arange(1000, 1003), np.array([0, 3])), (np.arange(2000, 2006), np.array([0, 2, 4, 6]))]
    b_starts = set()
    for seed in range(40):
        pair, _ = _pair_from_chunk(0, 0, 1, docs, 50, 60, CLS, SEP, np.random.default_rng(seed))
        assert pair.token_type_ids.dtype == np.int64
        if pair.next_sentence_label == NOT_NEXT:
            doc_b, b_start, b_end = pair.source[3:6]
            assert (doc_b, b_end) == (1, 6)
            assert pair.input_ids.tolist() == [CLS, 1000, 1001, 1002, SEP, *range(2000 + b_start, 2006), SEP]
            b_starts.add(b_start)
    assert b_starts == {0, 2, 4}


# create_sentence_pairs: text documents are tokenized with the tokenizer given
def test_sentence_pairs_from_text_equal_the_pairs_from_ids(corpus):
    docs, tok = corpus
    text = [[" ".join(f"w{i}" if i % 3 != 1 else f"##w{i}" for i in s) for s in d] for d in docs[:20]]
    from_ids = create_sentence_pairs(docs[:20], 48, np.random.default_rng(4), tokenizer=tok)
    from_text = create_sentence_pairs(text, 48, np.random.default_rng(4), tokenizer=tok)
    assert len(from_ids) == len(from_text) > 20
    for x, y in zip(from_ids, from_text):
        assert x.input_ids.tolist() == y.input_ids.tolist() and x.source == y.source


# create_sentence_pairs: a short target is uniform on 2..max_num_tokens, so it reaches the top
def test_short_targets_reach_up_to_the_full_length():
    # one-token sentences: an IsNext pair inside its document holds target + 3 tokens
    docs = [[[FIRST_WORD + 3000 * d + s] for s in range(3000)] for d in range(20)]
    pairs = create_sentence_pairs(docs, 64, np.random.default_rng(5), short_seq_prob=0.3, dupe_factor=2,
                                  tokenizer=TinyTokenizer(FIRST_WORD + 60000))
    short = [len(p.input_ids) for p in pairs
             if p.next_sentence_label == IS_NEXT and p.source[5] < 3000 and len(p.input_ids) < 64]
    # target 60 (63 tokens), the largest below the full 61, is one of 59 values: all n short
    # pairs miss it with probability (58/59)^n, under 1e-3 for n >= 410
    assert len(short) >= 410
    assert min(short) >= 5 and max(short) == 63
    # the same for the target drawn at the start of each document (short_seq_prob 1: every
    # target short, 2..61): the first pair of each document, when IsNext, holds that target + 3,
    # and target 61 is missed by all n with probability (59/60)^n, under 1e-3 for n >= 411
    docs = [[[FIRST_WORD + 70 * d + s] for s in range(70)] for d in range(1000)]
    pairs = create_sentence_pairs(docs, 64, np.random.default_rng(6), short_seq_prob=1.0,
                                  tokenizer=TinyTokenizer(FIRST_WORD + 70000), shuffle=False)
    first = [len(p.input_ids) for p in pairs if p.next_sentence_label == IS_NEXT and p.source[1] == 0]
    assert len(first) >= 411
    assert min(first) >= 5 and max(first) == 64


# tokenize_documents: the message for token strings without a tokenizer
def test_token_strings_without_a_tokenizer_say_what_to_pass():
    with pytest.raises(TypeError, match="^documents hold token strings: pass a tokenizer to convert them to ids$"):
        tokenize_documents([[["w1000", "w1002"]]])


# -- found by the full mutation run of data (docs/mutation.md, every mutant of the module)

class ScriptedRng(np.random.Generator):
    """A Generator whose random() and integers() answer from scripts (each call checks
    its range), for the branches of _pair_from_chunk; binomial() answers from its own
    script (each call checks 0 <= cut <= n), and cuts nothing when that is empty."""

    def __init__(self, randoms=(), integers=(), binomials=()):
        super().__init__(np.random.PCG64(0))
        self.randoms, self.ints, self.binomials = list(randoms), list(integers), list(binomials)

    def random(self, size=None):
        assert size is None
        return self.randoms.pop(0)

    def integers(self, low, high=None, size=None):
        low, high = (0, low) if high is None else (low, high)
        value = self.ints.pop(0)
        assert low <= value < high, (low, value, high)
        return value

    def binomial(self, n, p):
        if not self.binomials:
            return 0
        value = self.binomials.pop(0)
        assert p == 0.5 and 0 <= value <= n, (n, p, value)
        return value


def flat_doc(first_id, lengths):
    """A document as _pair_from_chunk sees it: consecutive ids and the sentence starts."""
    return np.arange(first_id, first_id + sum(lengths)), np.concatenate([[0], np.cumsum(lengths)])


IS_NEXT_DRAW, NOT_NEXT_DRAW = 0.25, 0.75


# a lone last sentence: A takes the sentences before it while A + B <= target, including exactly = target
def test_a_lone_sentence_takes_sentences_before_it_up_to_exactly_the_target():
    doc = flat_doc(1000, [2, 2, 2, 3])
    pair, unused = _pair_from_chunk(0, 3, 4, [doc], 9, 50, CLS, SEP, ScriptedRng([IS_NEXT_DRAW]))
    assert pair.input_ids.tolist() == [CLS, *range(1000, 1006), SEP, *range(1006, 1009), SEP]
    assert pair.source == (0, 0, 6, 0, 6, 9, 6) and unused == 0


# a document's first sentence longer than the target: B takes the sentences after it while
# A + B <= target, including exactly = target and the document's last sentence
def test_a_long_first_sentence_gets_b_up_to_exactly_the_target():
    doc = flat_doc(1000, [10, 2, 2])
    pair, _ = _pair_from_chunk(0, 0, 1, [doc], 14, 50, CLS, SEP, ScriptedRng([IS_NEXT_DRAW]))
    assert pair.input_ids.tolist() == [CLS, *range(1000, 1010), SEP, *range(1010, 1014), SEP]
    assert pair.next_sentence_label == IS_NEXT and pair.source == (0, 0, 10, 0, 10, 14, 10)
    doc = flat_doc(1000, [10, 2, 2, 2, 2])
    pair, _ = _pair_from_chunk(0, 0, 1, [doc], 14, 50, CLS, SEP, ScriptedRng([IS_NEXT_DRAW]))
    assert pair.input_ids.tolist() == [CLS, *range(1000, 1010), SEP, *range(1010, 1014), SEP]


# truncation from the front: the source spans start after the tokens cut from each segment's
# front, for a true B and a random one (A = 6 tokens, B = 8, at most 10: A loses 1, B loses 3)
def test_a_pair_cut_at_its_front_records_where_its_segments_start():
    doc = flat_doc(1000, [6, 8])
    pair, _ = _pair_from_chunk(0, 0, 2, [doc], 14, 10, CLS, SEP,
                               ScriptedRng([IS_NEXT_DRAW], [1], binomials=[1, 2]))
    # A: 1000..1005 loses its first token and nothing at its back; B: 1006..1013 loses 2 + 1
    assert pair.input_ids.tolist() == [CLS, *range(1001, 1006), SEP, *range(1008, 1013), SEP]
    assert pair.source == (0, 1, 6, 0, 8, 13, 6)
    docs = [flat_doc(1000, [6, 8]), flat_doc(2000, [4, 8])]
    pair, _ = _pair_from_chunk(0, 0, 2, docs, 14, 10, CLS, SEP,
                               ScriptedRng([NOT_NEXT_DRAW], [1, 0, 1], binomials=[1, 2]))
    # A = doc 0's first sentence (6); B = doc 1 from its sentence 1 (8 tokens: 2004..2011)
    assert pair.input_ids.tolist() == [CLS, *range(1001, 1006), SEP, *range(2006, 2011), SEP]
    assert pair.source == (0, 1, 6, 1, 6, 11, 6)


# a document of one sentence of two tokens is cut in two (A = 1 token, B = 1), not made a random pair
def test_a_one_sentence_document_of_two_tokens_is_cut_in_two():
    docs = [flat_doc(1000, [2]), flat_doc(2000, [3])]
    pair, _ = _pair_from_chunk(0, 0, 1, docs, 10, 50, CLS, SEP, ScriptedRng([IS_NEXT_DRAW], [1]))
    assert pair.input_ids.tolist() == [CLS, 1000, SEP, 1001, SEP] and pair.next_sentence_label == IS_NEXT


# a random B: A keeps the sentences before the drawn cut (two sentences: the first one), the rest go
# back unused; B starts at the drawn sentence of the drawn other document and takes sentences until it
# has at least target - len(A) tokens
def test_a_random_b_fills_what_a_leaves_of_the_target_from_the_drawn_sentence():
    docs = [flat_doc(1000, [3, 4]), flat_doc(2000, [2, 2]), flat_doc(3000, [2, 2, 2, 2, 2])]
    # doc 0, chunk of its two sentences: a_end = 1; other document: draw 1 of {1, 2} -> doc 2;
    # B from sentence 1 on, target 3 + 4 = 7: 4 tokens leave 4 to fill (2 + 2 = 4 is enough)
    pair, unused = _pair_from_chunk(0, 0, 2, docs, 7, 50, CLS, SEP, ScriptedRng([NOT_NEXT_DRAW], [1, 1, 1]))
    assert unused == 1 and pair.next_sentence_label == NOT_NEXT
    assert pair.input_ids.tolist() == [CLS, 1000, 1001, 1002, SEP, 3002, 3003, 3004, 3005, SEP]
    assert pair.source == (0, 0, 3, 2, 2, 6, 3)
    # the draw of the other document skips the pair's own: from doc 1, draws 0 and 1 are docs 0 and 2
    for draw, doc_b in ((0, 0), (1, 2)):
        pair, _ = _pair_from_chunk(1, 0, 1, docs, 7, 50, CLS, SEP, ScriptedRng([NOT_NEXT_DRAW], [draw, 0]))
        assert pair.source[3] == doc_b


# create_sentence_pairs: a chunk ends when it reaches the target, so with sentences that add up to it
# exactly no IsNext pair is truncated (A and B are whole sentences, 10 tokens together)
def test_chunks_end_when_they_reach_the_target_exactly():
    docs = [[list(range(s, s + 5)) for s in range(start, start + 20, 5)] for start in range(1000, 1200, 20)]
    pairs = create_sentence_pairs(docs, 13, np.random.default_rng(0), short_seq_prob=0.0,
                                  cls_token_id=CLS, sep_token_id=SEP)
    is_next = [p for p in pairs if p.next_sentence_label == IS_NEXT]
    assert len(is_next) >= 5
    for p in is_next:
        doc_a, a_start, a_end, doc_b, b_start, b_end, boundary = p.source
        assert a_start % 5 == 0 and a_end == boundary == b_start and b_end - a_start == 10


# create_sentence_pairs: explicit ids win over the tokenizer's; both ids are needed
def test_explicit_special_ids_win_over_the_tokenizers_and_both_are_needed(corpus):
    docs, tokenizer = corpus
    pairs = create_sentence_pairs(docs[:5], 32, np.random.default_rng(0), tokenizer=tokenizer,
                                  cls_token_id=7, sep_token_id=8)
    assert all(p.input_ids[0] == 7 and p.input_ids[-1] == 8 for p in pairs)
    message = ("^create_sentence_pairs needs the [CLS] and [SEP] ids: pass tokenizer= "
               "or cls_token_id= and sep_token_id=$").replace("[", r"\[").replace("]", r"\]")
    for ids in (dict(cls_token_id=CLS), dict(sep_token_id=SEP), {}):
        with pytest.raises(TypeError, match=message):
            create_sentence_pairs(docs[:5], 32, np.random.default_rng(0), **ids)


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_seq_length=4), r"^max_seq_length=4 is too small: a pair needs \[CLS\] A \[SEP\] B \[SEP\], "
                             r"at least 5 tokens \(BERT uses 128 or 512\)$"),
    (dict(short_seq_prob=1.5), r"^short_seq_prob must be a probability in \[0, 1\], got 1.5$"),
    (dict(dupe_factor=0), r"^dupe_factor must be a positive integer, got 0$"),
    (dict(documents=[]), r"^the corpus is empty: it needs documents of sentences \(one sentence per line, "
                         r"a blank line between documents\)$"),
    (dict(documents=[[[1000, 1001]]]), r"^the corpus holds a single document, but next sentence prediction "
                                       r"needs at least two \(a random B comes from another document\): "
                                       r"separate documents with a blank line$"),
])
def test_create_sentence_pairs_messages(corpus, kwargs, message):
    args = dict(documents=corpus[0][:5], max_seq_length=32, rng=np.random.default_rng(0),
                cls_token_id=CLS, sep_token_id=SEP)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        create_sentence_pairs(**args)


def test_the_smallest_pair_length_5_is_allowed(corpus):
    pairs = create_sentence_pairs(corpus[0][:5], 5, np.random.default_rng(0), cls_token_id=CLS, sep_token_id=SEP)
    assert pairs and max(len(p.input_ids) for p in pairs) <= 5


# the defaults are google-research/bert's create_pretraining_data.py flags and HF's collator
def test_defaults_are_googles_flags():
    def defaults(f):
        return {k: v.default for k, v in inspect.signature(f).parameters.items() if v.default is not v.empty}
    assert defaults(create_training_instances) == dict(
        max_seq_length=128, rng=None, short_seq_prob=0.1, dupe_factor=10, masked_lm_prob=0.15,
        max_predictions_per_seq=20, whole_word_masking=False, mask_prob=0.8, random_prob=0.1, mask=True)
    assert defaults(Masking) == dict(masked_lm_prob=0.15, max_predictions_per_seq=20,
                                     whole_word_masking=False, mask_prob=0.8, random_prob=0.1)
    assert defaults(create_sentence_pairs)["dupe_factor"] == 1   # one pass unless asked
    assert defaults(create_sentence_pairs)["shuffle"] is True
    assert defaults(collate)["pad_token_id"] == 0 and defaults(batches)["pad_token_id"] == 0


def test_sentence_pairs_are_shuffled_by_default(corpus):
    docs, tokenizer = corpus
    kept = create_sentence_pairs(docs[:30], 32, np.random.default_rng(0), tokenizer=tokenizer, shuffle=False)
    shuffled = create_sentence_pairs(docs[:30], 32, np.random.default_rng(0), tokenizer=tokenizer)
    assert len(kept) == len(shuffled)
    assert [p.source[0] for p in kept] == sorted(p.source[0] for p in kept)   # in corpus order
    assert [p.source[0] for p in shuffled] != [p.source[0] for p in kept]


# create_training_instances: mask=False gives the unmasked pairs; short_seq_prob is passed on
def test_training_instances_unmasked_and_short_seq_prob_passed_on(corpus):
    docs, tokenizer = corpus
    pairs = create_training_instances(docs[:40], tokenizer, 64, np.random.default_rng(0), dupe_factor=1,
                                      mask=False)
    assert pairs and all(type(p) is SentencePair for p in pairs)

    def lengths(short_seq_prob):
        out = create_training_instances(docs[:40], tokenizer, 64, np.random.default_rng(0), dupe_factor=2,
                                        short_seq_prob=short_seq_prob, mask=False)
        return np.array([len(p.input_ids) for p in out])
    # every target drawn from [2, 61] instead of 61: shorter pairs on average (whole sentences of up
    # to 30 tokens keep them from being much shorter); the gap must exceed 3 standard errors
    short, full = lengths(1.0), lengths(0.0)
    standard_error = math.sqrt(short.var() / len(short) + full.var() / len(full))
    assert short.mean() + 3 * standard_error < full.mean()


# Masking: each probability is checked under its own name; the other messages in full
@pytest.mark.parametrize("kwargs, message", [
    (dict(masked_lm_prob=1.5), r"^masked_lm_prob must be a probability in \[0, 1\], got 1.5$"),
    (dict(mask_prob=1.5, random_prob=0.0), r"^mask_prob must be a probability in \[0, 1\], got 1.5$"),
    (dict(mask_prob=0.0, random_prob=1.5), r"^random_prob must be a probability in \[0, 1\], got 1.5$"),
    (dict(mask_prob=0.75, random_prob=0.5), r"^mask_prob \+ random_prob = 1.25 exceeds 1; the rest "
                                            r"\(1 - mask_prob - random_prob\) is the probability to keep the "
                                            r"token$"),
    (dict(max_predictions_per_seq=0), r"^max_predictions_per_seq must be at least 1, got 0$"),
])
def test_masking_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Masking(TinyTokenizer(1200), **kwargs)


def test_a_vocabulary_without_an_ordinary_token_is_refused_and_one_is_enough():
    with pytest.raises(ValueError, match="^the vocabulary has no ordinary token to use as a random replacement$"):
        Masking(TinyTokenizer(104))
    masking = Masking(TinyTokenizer(105), mask_prob=0.0, random_prob=1.0)
    assert masking.random_ids.tolist() == [104] and masking.pad_token_id == PAD
    masked, positions, _ = masking.mask_ids(np.array([CLS, 104, 104, 104, SEP]), np.random.default_rng(0))
    assert positions.size and (masked[positions] == 104).all()


# Masking: the table covers the tokenizer's vocab_size (a model's padded vocab) or, without it, the
# largest id; every special id of either source is excluded
def test_masking_table_size_and_special_ids():
    tokenizer = TinyTokenizer(1200)
    tokenizer.vocab_size = 1300   # ids past the vocab file's last line, as a padded embedding table has
    masking = Masking(tokenizer)
    assert len(masking.can_predict) == 1300
    masking.mask_ids(np.array([CLS, 1299, SEP]), np.random.default_rng(0))
    del tokenizer.vocab_size
    masking = Masking(tokenizer)
    assert len(masking.can_predict) == 1200
    masking.mask_ids(np.array([CLS, 1199, SEP]), np.random.default_rng(0))
    tokenizer.all_special_ids = [UNK]   # the four named ids are special even when not listed
    masking = Masking(tokenizer)
    for i in (PAD, UNK, CLS, SEP, MASK):
        assert not masking.can_predict[i] and i not in masking.random_ids


def test_masking_names_a_negative_id():
    with pytest.raises(ValueError, match=r"^token id -5 is outside the vocabulary"):
        Masking(TinyTokenizer(1200)).mask_ids(np.array([CLS, -5, 1000, SEP]), np.random.default_rng(0))


# mask_ids: each picked position draws its own fate (one draw per position, not one per sequence)
def test_each_picked_position_draws_its_own_fate():
    masking = Masking(TinyTokenizer(1200), masked_lm_prob=1.0, max_predictions_per_seq=40)
    ids = np.array([CLS, *range(1000, 1040), SEP])
    masked, positions, labels = masking.mask_ids(ids, np.random.default_rng(3))
    fates = {"mask" if m == MASK else "kept" if m == o else "random" for m, o in zip(masked[positions], labels)}
    assert fates == {"mask", "kept", "random"}


# _pick_positions with whole words: a word that would overshoot is skipped and shorter ones are tried
def test_whole_word_masking_skips_a_word_that_would_overshoot():
    tokenizer = TinyTokenizer(1200)
    assert "##w1003" in tokenizer.vocab and all(f"w{i}" in tokenizer.vocab for i in (1002, 1004, 1005, 1007, 1008))
    # w1002 ##w1003 is a two-piece word, w1004 w1005 w1007 w1008 single words (one id in 3 is a "##" piece)
    ids = np.array([CLS, 1002, 1003, 1004, 1005, 1007, 1008, SEP])
    masking = Masking(tokenizer, masked_lm_prob=0.15, max_predictions_per_seq=1, whole_word_masking=True)
    for seed in range(30):
        _, positions, _ = masking.mask_ids(ids, np.random.default_rng(seed))
        assert len(positions) == 1 and positions[0] >= 3   # never the two-piece word, always one word


# mask_batch: every row is re-masked within its own length; padding is never touched
def test_mask_batch_masks_each_row_within_its_length():
    tokenizer = TinyTokenizer(1200)
    masking = Masking(tokenizer, masked_lm_prob=0.5)
    rows = [[CLS, *range(1000, 1010), SEP], [CLS, 1020, 1021, SEP], [CLS, *range(1030, 1036), SEP]]
    pairs = [SentencePair(np.array(r), np.zeros(len(r), np.int64), IS_NEXT, (b,)) for b, r in enumerate(rows)]
    batch = collate(pairs, 16)
    out = masking.mask_batch(batch, np.random.default_rng(0))
    assert out["input_ids"].shape == (3, 16) and out["labels"].shape == (3, 16)
    for b, row in enumerate(rows):
        n = len(row)
        labelled = np.flatnonzero(out["labels"][b] != IGNORE_INDEX)
        assert labelled.size == masking.num_to_predict(n) or labelled.size == len(row) - 2
        assert labelled.max() < n - 1 and labelled.min() > 0        # not [CLS], [SEP] or padding
        np.testing.assert_array_equal(out["labels"][b, labelled], np.array(row)[labelled])
        assert (out["input_ids"][b, n:] == PAD).all()
        unlabelled = np.setdiff1d(np.arange(n), labelled)
        np.testing.assert_array_equal(out["input_ids"][b, unlabelled], np.array(row)[unlabelled])
    assert (out["input_ids"] != batch["input_ids"]).any()
    # re-masking puts the labels back first: the unmasked rows are the same
    again = masking.mask_batch(out, np.random.default_rng(1))
    restored = np.where(again["labels"] != IGNORE_INDEX, again["labels"], again["input_ids"])
    np.testing.assert_array_equal(restored, batch["input_ids"])


# mask_instances keeps each pair's source
def test_mask_instances_keeps_the_source(corpus):
    docs, tokenizer = corpus
    pairs = create_sentence_pairs(docs[:5], 32, np.random.default_rng(0), tokenizer=tokenizer)
    instances = Masking(tokenizer).mask_instances(pairs, np.random.default_rng(0))
    assert [i.source for i in instances] == [p.source for p in pairs] and pairs[0].source


# tokenize_documents: token-string sentences are converted; the messages in full
def test_documents_of_token_strings_are_converted():
    tokenizer = TinyTokenizer(1200)
    out = tokenize_documents([[["w1002", "##w1003"], ["w1005"]]], tokenizer)
    assert [s.tolist() for s in out[0]] == [[1002, 1003], [1005]] and out[0][0].dtype == np.int64


@pytest.mark.parametrize("documents, tokenizer, message", [
    (5, None, r"^documents must be a list of documents, each a list of sentences; got int \(use "
              r"numpy_bert.corpus.read_corpus\(path\) to read a corpus file\)$"),
    ("text", None, r"^documents must be a list of documents, each a list of sentences; got str "),
    (["a doc"], None, r"^document 0 is a string; a document must be a list of sentences \(one sentence per "
                      r"line in a corpus file, a blank line between documents\)$"),
    ([["a sentence"]], None, r"^documents hold text: pass a tokenizer \(e.g. "
                             r"numpy_bert.BertTokenizer.from_pretrained\(dir\)\) to tokenize them$"),
    ([[["w1000"]]], None, r"^documents hold token strings: pass a tokenizer to convert them to ids$"),
])
def test_tokenize_documents_messages(documents, tokenizer, message):
    with pytest.raises(TypeError, match=message):
        tokenize_documents(documents, tokenizer)


# collate and batches: the messages, batch_size 1, padding with 0 by default, shuffling with an rng
def test_collate_and_batches_messages_and_defaults():
    pairs = [SentencePair(np.array([CLS, 1000 + i, SEP]), np.zeros(3, np.int64), IS_NEXT) for i in range(6)]
    with pytest.raises(ValueError, match=r"^instance 0 has 3 tokens, more than max_seq_length=2: build the "
                                         r"instances with the same max_seq_length as the batches$"):
        collate(pairs, 2)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
        list(batches(pairs, 0, 4))
    ones = list(batches(pairs, 1, 4))
    assert len(ones) == 6 and all(b["input_ids"].shape == (1, 4) for b in ones)
    assert all(b["input_ids"][0, 3] == 0 for b in ones)       # padded with [PAD] = 0 by default
    order = [int(b["input_ids"][0, 1]) - 1000 for b in batches(pairs, 1, 4, rng=np.random.default_rng(0))]
    assert sorted(order) == list(range(6)) and order != list(range(6))
    with pytest.raises(TypeError, match=r"got int; every random choice goes through it so that a seed "
                                        r"fixes the data$"):
        create_sentence_pairs([[[1000]], [[1001]]], 8, 0, cls_token_id=CLS, sep_token_id=SEP)


# mask_ids: id 0 ([PAD]) is a valid id: a padded sequence is masked, its padding never predicted
def test_a_padded_sequence_is_masked_and_its_padding_never_predicted():
    masking = Masking(TinyTokenizer(1200), masked_lm_prob=1.0)
    ids = np.array([CLS, 1002, 1004, SEP, PAD, PAD])
    for seed in range(10):
        _, positions, _ = masking.mask_ids(ids, np.random.default_rng(seed))
        assert positions.tolist() == [1, 2]
