"""benchmarks/split_tweets.py on a tiny synthetic corpus in the real file's format."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "split_tweets.py"
_spec = importlib.util.spec_from_file_location("split_tweets", _PATH)
split_tweets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(split_tweets)


def _write_corpus(path, rows):
    """rows of (sentiment, text), written as the real file is: Mac Roman, CRLF line ends."""
    with open(path, "w", encoding="mac_roman", newline="") as f:
        writer = csv.writer(f)                         # lineterminator "\r\n"
        writer.writerow(["sentiment", "confidence", "text"])
        for sentiment, text in rows:
            writer.writerow([sentiment, "0.8", text])


def _corpus_rows():
    # 40 distinct texts, labels cycling negative/neutral/positive, plus:
    # - "retweet" copied 5 times, all positive: kept once
    # - "mixed" 3x negative and 1x neutral: kept once, as negative (majority)
    # - "tied" 1x negative and 1x positive: dropped
    # - a text with an apostrophe that Mac Roman stores as one byte, and one with a line break
    rows = [(split_tweets.LABELS[i % 3], f"tweet number {i}") for i in range(40)]
    rows += [("positive", "retweet")] * 5
    rows += [("negative", "mixed")] * 3 + [("neutral", "mixed")]
    rows += [("negative", "tied"), ("positive", "tied")]
    rows += [("neutral", "isn\u2019t it"), ("positive", "two\r\nlines")]
    return rows


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.csv"
    _write_corpus(path, _corpus_rows())
    return path


def test_split_is_deterministic_disjoint_and_complete(corpus, tmp_path):
    a = split_tweets.split_tweets(tmp_path / "a", corpus, seed=3, min_heldout=0)
    split_tweets.split_tweets(tmp_path / "b", corpus, seed=3, min_heldout=0)
    split_tweets.split_tweets(tmp_path / "c", corpus, seed=4, min_heldout=0)
    for name in split_tweets.SPLITS:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
    splits = {name: _read(tmp_path / "a" / f"{name}.csv") for name in split_tweets.SPLITS}
    other = {name: _read(tmp_path / "c" / f"{name}.csv") for name in split_tweets.SPLITS}
    assert splits != other                                           # the seed matters

    texts = {name: [row["text"] for row in rows] for name, rows in splits.items()}
    all_texts = texts["train"] + texts["eval"] + texts["test"]
    # 40 + retweet + mixed + apostrophe + two lines = 44 distinct texts kept; "tied" dropped
    assert len(all_texts) == 44 and len(set(all_texts)) == 44            # no text twice, in or across splits
    assert "tied" not in all_texts and "retweet" in all_texts
    assert "isn\u2019t it" in all_texts and "two\nlines" in all_texts   # decoded, line end normalised
    # 80/10/10 of 44: round(35.2) = 35 train, round(4.4) = 4 eval, the remaining 5 test
    assert [len(texts[name]) for name in split_tweets.SPLITS] == [35, 4, 5]

    labels = {row["text"]: row["label"] for rows in splits.values() for row in rows}
    assert labels["mixed"] == "negative" and labels["retweet"] == "positive"
    assert all(labels[f"tweet number {i}"] == split_tweets.LABELS[i % 3] for i in range(40))

    assert a["rows"] == 53 and a["conflicting_label_texts"] == 2 and a["dropped_tied_texts"] == 1
    assert {name: sum(c.values()) for name, c in a["counts"].items()} == {"train": 35, "eval": 4, "test": 5}
    written = json.loads((tmp_path / "a" / "split.json").read_text(encoding="utf-8"))
    assert written["counts"] == a["counts"]


def test_main_prints_counts_and_enforces_min_heldout(corpus, tmp_path, capsys):
    assert split_tweets.main([str(tmp_path / "out"), "--csv", str(corpus), "--min-heldout", "4"]) == 0
    out = capsys.readouterr().out
    assert "53 rows, 45 distinct texts, 2 with conflicting labels (1 tied, dropped)" in out
    assert out.splitlines()[1].split() == ["split", "negative", "neutral", "positive", "total"]
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["train", "eval", "test"]

    # 4 eval tweets are fewer than 5: refused, and nothing is written
    assert split_tweets.main([str(tmp_path / "small"), "--csv", str(corpus), "--min-heldout", "5"]) == 1
    assert "the eval split would hold 4 tweets, fewer than --min-heldout 5" in capsys.readouterr().err
    assert not (tmp_path / "small").exists()


def test_bad_corpus_files(tmp_path):
    bad_label = tmp_path / "bad_label.csv"
    _write_corpus(bad_label, [("negative", "a"), ("angry", "b")])
    with pytest.raises(ValueError, match=r"line 3, column sentiment: label 'angry'"):
        split_tweets.read_tweets(bad_label)
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("sentiment,confidence\r\nnegative,0.5\r\n", encoding="mac_roman")
    with pytest.raises(ValueError, match="no column text"):
        split_tweets.read_tweets(no_text)
    empty = tmp_path / "empty.csv"
    empty.write_text("sentiment,confidence,text\r\n", encoding="mac_roman")
    with pytest.raises(ValueError, match="holds no tweets"):
        split_tweets.read_tweets(empty)
    with pytest.raises(ValueError, match="sum to 1"):
        split_tweets.split([("a", "negative")], fractions=(0.5, 0.1, 0.1))
