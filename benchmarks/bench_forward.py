"""Forward-pass speed and peak memory: numpy_bert vs transformers (eager), bert-base-cased size.

    python benchmarks/bench_forward.py [--repeats 5] [--threads 2] [--shapes 8x128,1x128,1x512]

A randomly initialised BertForPreTraining of bert-base-cased's size (V=28996, H=768, L=12,
NH=12, I=3072), float32, eval mode, computing the full outputs (prediction_logits (B, T, V)
and seq_relationship_logits). Each side runs in its own process with the same number of
threads (torch.set_num_threads; NumPy's BLAS via OPENBLAS_NUM_THREADS / OMP_NUM_THREADS
set before NumPy is imported). Time: best of --repeats after one warm-up call. Memory:
the process's peak RSS (VmHWM) during the calls, above the RSS after building the model,
and the process's overall peak. Ratios are numpy_bert / PyTorch (< 1 means numpy_bert is
faster or smaller). On a shared, busy machine the separate-process times drift with the
load, so the two sides are also timed in one process with their calls alternating.

The environment's OPENBLAS_CORETYPE pins OpenBLAS's kernel; run with ``env -u
OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` to let OpenBLAS pick the CPU's own kernel. The
kernel in use is printed (via threadpoolctl when it is installed).
"""

import argparse
import json
import os
import subprocess
import sys
import time

BERT_BASE_CASED = dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                       intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                       type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0)


# ----------------------------------------------------------------------------- memory helpers

def rss_mb(field="VmRSS"):
    """Current (VmRSS) or peak (VmHWM) resident memory of this process in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); returns False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def blas_info():
    try:
        import threadpoolctl
    except ImportError:
        return f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} (threadpoolctl not installed)"
    infos = threadpoolctl.threadpool_info()
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                     f"threads={i.get('num_threads')}" for i in infos)


# ----------------------------------------------------------------------------- workers

def make_inputs(np, B, T, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, BERT_BASE_CASED["vocab_size"], size=(B, T))
    types = np.zeros((B, T), dtype=np.int64)
    types[:, T // 2:] = 1
    mask = np.ones((B, T), dtype=np.int64)
    if B > 1:
        mask[1, T - T // 4:] = 0                                  # one padded row
    return ids, types, mask


def build(side, threads):
    """(run(ids, types, mask) -> prediction logits, info string) for one side."""
    import numpy as np
    if side == "torch":
        import torch
        import transformers
        torch.set_num_threads(threads)
        config = transformers.BertConfig(**BERT_BASE_CASED, attn_implementation="eager")
        model = transformers.BertForPreTraining(config).float().eval()

        def run(ids, types, mask):
            with torch.inference_mode():
                out = model(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types),
                            attention_mask=torch.from_numpy(mask))
            return out.prediction_logits
        return run, f"torch {torch.__version__} threads={torch.get_num_threads()}"
    from numpy_bert import BertConfig
    from numpy_bert.model import BertForPreTraining
    model = BertForPreTraining(BertConfig(**BERT_BASE_CASED), seed=0, dtype=np.float32)

    def run(ids, types, mask):
        return model(ids, types, mask)["prediction_logits"]
    return run, f"numpy {np.__version__}: {blas_info()}"


def worker(side, shapes, repeats, threads):
    """One side alone in this process: best time and peak RSS per shape."""
    import numpy as np
    run, info = build(side, threads)
    result = {"side": side, "shapes": {}, "info": info, "rss_model_mb": rss_mb()}
    for shape in shapes:
        B, T = map(int, shape.split("x"))
        ids, types, mask = make_inputs(np, B, T)
        run(ids, types, mask)                                     # warm-up
        can_reset = reset_peak()
        base = rss_mb()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            logits = run(ids, types, mask)
            times.append(time.perf_counter() - t0)
            del logits
        result["shapes"][shape] = {"best_s": min(times), "times": times,
                                   "peak_above_model_mb": rss_mb("VmHWM") - base if can_reset else None}
    result["peak_rss_mb"] = rss_mb("VmHWM")
    return result


def interleaved(shapes, repeats, threads):
    """Both sides in one process, calls alternating, so that a busy machine slows both alike."""
    import numpy as np
    runs = {side: build(side, threads)[0] for side in ("numpy", "torch")}
    result = {}
    for shape in shapes:
        B, T = map(int, shape.split("x"))
        inputs = make_inputs(np, B, T)
        times = {side: [] for side in runs}
        for side, run in runs.items():
            run(*inputs)                                          # warm-up
        for _ in range(repeats):
            for side, run in runs.items():
                t0 = time.perf_counter()
                run(*inputs)
                times[side].append(time.perf_counter() - t0)
        result[shape] = {side: min(t) for side, t in times.items()}
    return result


def run_worker(side, args):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, __file__, "--worker", side, "--shapes", args.shapes,
           "--repeats", str(args.repeats), "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{side} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shapes", default="8x128,1x128,1x512")
    parser.add_argument("--worker", choices=["numpy", "torch", "interleaved"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    if args.worker == "interleaved":
        print(json.dumps(interleaved(shapes, args.repeats, args.threads)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, shapes, args.repeats, args.threads)))
        return
    res = {side: run_worker(side, args) for side in ("numpy", "torch", "interleaved")}
    print(f"bert-base-cased size, float32, forward (prediction + NSP logits), {args.threads} threads, "
          f"best of {args.repeats}; load: {os.getloadavg()[0]:.2f}")
    for side in ("numpy", "torch"):
        print(f"  {side:6s} {res[side]['info']}")
    print("separate processes (time, peak RSS above the model) | one process, calls alternating (time)")
    print(f"{'shape':>8s} {'numpy_bert s':>13s} {'torch s':>9s} {'ratio':>6s} "
          f"{'np peak+MB':>10s} {'torch peak+MB':>13s} | {'numpy_bert s':>13s} {'torch s':>9s} {'ratio':>6s}")
    for shape in shapes:
        a, b = res["numpy"]["shapes"][shape], res["torch"]["shapes"][shape]
        i = res["interleaved"][shape]
        fmt = lambda v: "n/a" if v is None else f"{v:.0f}"
        print(f"{shape:>8s} {a['best_s']:13.4f} {b['best_s']:9.4f} {a['best_s'] / b['best_s']:6.2f} "
              f"{fmt(a['peak_above_model_mb']):>10s} {fmt(b['peak_above_model_mb']):>13s} | "
              f"{i['numpy']:13.4f} {i['torch']:9.4f} {i['numpy'] / i['torch']:6.2f}")
    pa, pb = res["numpy"]["peak_rss_mb"], res["torch"]["peak_rss_mb"]
    print(f"process peak RSS: numpy_bert {pa:.0f} MB, torch {pb:.0f} MB, ratio {pa / pb:.2f} "
          f"(after building the model: {res['numpy']['rss_model_mb']:.0f} / {res['torch']['rss_model_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
