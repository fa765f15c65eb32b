"""The WordPiece trainer: the layout of the vocab it writes, its merges, bad input, the command."""

import pytest

from numpy_bert.tokenization import BertTokenizer, write_vocab
from numpy_bert.vocab_trainer import train_wordpiece

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


def test_train_wordpiece_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(["text"], vocab_size=3)
    with pytest.raises(ValueError, match="no words"):
        train_wordpiece(["   "], vocab_size=100)
    with pytest.raises(TypeError, match="file paths or text"):
        train_wordpiece([42], vocab_size=100)


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
