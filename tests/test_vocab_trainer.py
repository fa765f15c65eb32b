"""The WordPiece trainer: the layout of the vocab it writes, its merges, bad input, the command."""

import pytest

from numpy_bert.tokenization import BertTokenizer, write_vocab
from numpy_bert.vocab_trainer import count_words, train_wordpiece

TRAIN_TEXT = ("the cat sat on the mat. the cats sat on the mats! a dog ran after the cats; "
              "running dogs and running cats, sitting mats.\n") * 20


def test_train_wordpiece_layout_and_roundtrip(tmp_path):
    vocab = train_wordpiece([TRAIN_TEXT], vocab_size=60, do_lower_case=True)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) == len(set(vocab)) <= 60
    assert "the" in vocab and "##s" in vocab and "c" in vocab
    path = tmp_path / "vocab.txt"
    write_vocab(vocab, path)
    tok = BertTokenizer(path)
    assert tok.pad_token_id == 0 and tok.unk_token_id == 1 and tok.mask_token_id == 4
    tokens = tok.tokenize("The cats sat.")
    assert "[UNK]" not in tokens and "".join(t[2:] if t.startswith("##") else " " + t for t in tokens).split() == \
        ["the", "cats", "sat", "."]


def test_train_wordpiece_merges_frequent_pairs():
    # "ab" occurs 5 times as a word, "cd" twice: the first merge is a + ##b, then c + ##d
    vocab = train_wordpiece(["ab ab ab ab ab cd cd"], vocab_size=10, min_frequency=1)
    assert vocab[5:] == ["##b", "##d", "a", "c", "ab"]
    assert train_wordpiece(["ab ab ab ab ab cd cd"], vocab_size=11, min_frequency=1)[-1] == "cd"
    # min_frequency stops the merges: "cd" occurs only twice
    assert train_wordpiece(["ab ab ab ab ab cd cd"], vocab_size=20, min_frequency=3)[-1] == "ab"


def test_train_wordpiece_likelihood_criterion_prefers_pairs_whose_parts_rarely_occur_apart():
    # "ab" 5 times, "cd" twice. Frequency merges a + ##b first (count 5 > 2); the likelihood
    # score count(ab) / (count(a) count(b)) is 5 / (5 * 5) = 0.2 for it and 2 / (2 * 2) = 0.5
    # for c + ##d, so WordPiece's criterion merges c + ##d first.
    text = ["ab ab ab ab ab cd cd"]
    assert train_wordpiece(text, vocab_size=11, min_frequency=1)[9:] == ["ab", "cd"]
    assert train_wordpiece(text, vocab_size=11, min_frequency=1, criterion="likelihood")[9:] == ["cd", "ab"]
    # "##e" and "##s" are common everywhere, "q" and "##u" only together: the first merge differs
    text = ["hes hes hes his has ses quo quo"]
    assert train_wordpiece(text, vocab_size=15, min_frequency=1)[-1] == "##es"
    assert train_wordpiece(text, vocab_size=15, min_frequency=1, criterion="likelihood")[-1] == "##uo"


def _merges_by_brute_force(text, vocab_size, min_frequency, criterion):
    """The merge loop written the slow, obvious way: every score recomputed at every step."""
    import collections

    words = count_words([text])
    spelled = {word: [c if i == 0 else "##" + c for i, c in enumerate(word)] for word in words}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sorted({s for symbols in spelled.values() for s in symbols})
    while len(vocab) < vocab_size:
        pairs, symbols_count = collections.Counter(), collections.Counter()
        for word, symbols in spelled.items():
            for s in symbols:
                symbols_count[s] += words[word]
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += words[word]
        candidates = [p for p, n in pairs.items() if n >= min_frequency]
        if not candidates:
            break
        if criterion == "frequency":
            def score(p):
                return pairs[p]
        else:
            def score(p):
                return pairs[p] / (symbols_count[p[0]] * symbols_count[p[1]])
        a, b = min(candidates, key=lambda p: (-score(p), p))
        if a + b[2:] not in vocab:
            vocab.append(a + b[2:])
        for word, symbols in spelled.items():
            new, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == (a, b):
                    new.append(a + b[2:])
                    i += 2
                else:
                    new.append(symbols[i])
                    i += 1
            spelled[word] = new
    return vocab


@pytest.mark.parametrize("criterion", ["frequency", "likelihood"])
def test_train_wordpiece_equals_the_brute_force_merge_loop(criterion):
    # random words over a 6-letter alphabet, so that pairs overlap, repeat and tie often
    import random

    for seed in range(6):
        rng = random.Random(seed)
        words = ["".join(rng.choice("abcdef") for _ in range(rng.randint(1, 7))) for _ in range(40)]
        text = " ".join(rng.choice(words) for _ in range(300))
        for min_frequency in (1, 3):
            expected = _merges_by_brute_force(text, 80, min_frequency, criterion)
            got = train_wordpiece([text], vocab_size=80, min_frequency=min_frequency, criterion=criterion)
            assert got == expected, (seed, min_frequency)


def test_train_wordpiece_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(["text"], vocab_size=3)
    with pytest.raises(ValueError, match="no words"):
        train_wordpiece(["   "], vocab_size=100)
    with pytest.raises(TypeError, match="file paths or text"):
        train_wordpiece([42], vocab_size=100)
    with pytest.raises(ValueError, match="criterion must be one of 'frequency', 'likelihood'"):
        train_wordpiece(["text"], vocab_size=100, criterion="score")


# -- command line -------------------------------------------------------------------------

def test_cli_train_vocab(tmp_path, capsys):
    from numpy_bert.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TRAIN_TEXT, encoding="utf-8")
    out = tmp_path / "vocab.txt"
    assert main(["train-vocab", str(corpus), "--vocab-size", "50", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    tokens = out.read_text(encoding="utf-8").splitlines()
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(tokens) <= 50
    assert "[UNK]" not in BertTokenizer(out).tokenize("the cat sat")
    assert main(["train-vocab", str(tmp_path / "nope.txt"), "--out", str(out)]) == 1
    assert main(["train-vocab", str(corpus), "--vocab-size", "50", "--criterion", "likelihood",
                 "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == \
        train_wordpiece([str(corpus)], vocab_size=50, criterion="likelihood")
