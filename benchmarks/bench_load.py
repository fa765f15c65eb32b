"""How long does loading a bert-base-cased-sized checkpoint take? numpy_bert vs PyTorch.

    python benchmarks/bench_load.py [--repeats 5] [--dir /tmp]

Writes a random float32 BertForPreTraining checkpoint of bert-base-cased's size
(108.9 M parameters, ~436 MB) to a temporary directory, times each loader several
times (best of N, page cache warm: every loader reads the same cached file), prints
the ratios, and deletes the file. Needs torch, transformers and safetensors
(``pip install -e .[reference]``).

numpy_bert's ``load_safetensors`` maps the file and makes views, so it does almost
no work until the arrays are touched; the "+ read all" line touches every byte
(a sum per tensor), which is the fair comparison with loaders that copy.
"""

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from numpy_bert.config import BertConfig
from numpy_bert.weights import expected_shapes, load_safetensors, load_state_dict, save_state_dict


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
    return min(times)


def touch_all(tensors):
    """Read every byte (a float32 sum of each tensor), as a copying loader would."""
    return sum(float(np.add.reduce(t, axis=None)) for t in tensors.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to put the temporary checkpoint")
    args = parser.parse_args()

    import torch
    import transformers
    from safetensors.numpy import load_file as st_numpy_load
    from safetensors.torch import load_file as st_torch_load
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    config = BertConfig(vocab_size=28996)  # bert-base-cased
    workdir = tempfile.mkdtemp(prefix="bench_load_", dir=args.dir)
    try:
        rng = np.random.default_rng(0)
        params = {name: (rng.standard_normal(shape, dtype=np.float32) * 0.02)
                  for name, shape in expected_shapes(config).items()}
        n_params = sum(p.size for p in params.values())
        start = time.perf_counter()
        save_state_dict(params, workdir)
        write_s = time.perf_counter() - start
        config.to_json_file(os.path.join(workdir, "config.json"))
        del params
        file = os.path.join(workdir, "model.safetensors")
        size_mb = os.path.getsize(file) / 1e6
        print(f"checkpoint: {n_params / 1e6:.1f} M parameters, {size_mb:.0f} MB float32 "
              f"(numpy_bert wrote it in {write_s:.2f} s)")
        print(f"best of {args.repeats}; torch threads 2; load average {os.getloadavg()[0]:.1f}\n")

        timings = {}
        r = args.repeats
        timings["numpy_bert load_safetensors (mmap, lazy)"] = best_of(r, lambda: load_safetensors(file))
        timings["numpy_bert load_safetensors + read all"] = best_of(
            r, lambda: touch_all(load_safetensors(file)))
        timings["numpy_bert load_state_dict float32"] = best_of(
            r, lambda: load_state_dict(workdir, config, dtype=np.float32))
        timings["numpy_bert load_state_dict float64 (converts)"] = best_of(
            max(1, r // 2), lambda: load_state_dict(workdir, config, dtype=np.float64))
        timings["safetensors.numpy.load_file"] = best_of(r, lambda: st_numpy_load(file))
        timings["safetensors.torch.load_file"] = best_of(r, lambda: st_torch_load(file))
        timings["safetensors.torch.load_file + read all"] = best_of(
            r, lambda: sum(float(t.sum()) for t in st_torch_load(file).values()))
        timings["transformers BertForPreTraining.from_pretrained"] = best_of(
            max(1, r // 2), lambda: transformers.BertForPreTraining.from_pretrained(workdir))

        baseline = timings["safetensors.torch.load_file"]
        width = max(map(len, timings))
        print(f"{'loader':<{width}}  {'seconds':>8}  {'vs safetensors.torch':>20}")
        for name, seconds in timings.items():
            print(f"{name:<{width}}  {seconds:8.4f}  {seconds / baseline:19.3f}x")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"\nremoved {workdir}")


if __name__ == "__main__":
    main()
