"""Training-step speed and peak memory: numpy_bert vs transformers (eager), bert-base-cased size.

    python benchmarks/bench_train_step.py [--repeats 3] [--threads 2] [--batch 8] [--seq 128] [--dropout]

One step = forward + backward of the pre-training loss (MLM over ~15% masked positions +
NSP) on a randomly initialised BertForPreTraining of bert-base-cased's size, float32,
batch 8 x 128: numpy_bert's ``loss_and_grads`` against ``model(**batch).loss.backward()``
in transformers (eager attention, gradients set to None before each step). Dropout is off
on both sides unless --dropout (then both train with p = 0.1). Each side runs in its own
process with the same thread count (torch.set_num_threads; OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS for NumPy), so each process's peak RSS (VmHWM) is its own. Time: best of
--repeats after one warm-up step. Ratios are numpy_bert / PyTorch. On a shared, busy
machine the separate-process times drift with the load, so the two sides are also timed
in one process with their steps alternating.

numpy_bert runs the MLM head (dense, act, LayerNorm, the (H, V) decoder) only at the
masked positions; transformers computes it at all B*T positions.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_forward import BERT_BASE_CASED, blas_info, reset_peak, rss_mb  # noqa: E402


def make_batch(np, B, T, seed=0):
    rng = np.random.default_rng(seed)
    V = BERT_BASE_CASED["vocab_size"]
    ids = rng.integers(1000, V, size=(B, T))
    types = np.zeros((B, T), dtype=np.int64)
    types[:, T // 2:] = 1
    mask = np.ones((B, T), dtype=np.int64)
    if B > 1:
        mask[1, T - T // 4:] = 0                                  # one padded row
    labels = np.where((rng.random((B, T)) < 0.15) & (mask == 1), rng.integers(1000, V, size=(B, T)), -100)
    nsp = rng.integers(0, 2, size=B)
    return ids, types, mask, labels, nsp


def build(side, B, T, threads, dropout):
    """(step() -> loss, info string) for one side."""
    import numpy as np
    p = 0.1 if dropout else 0.0
    cfg = dict(BERT_BASE_CASED, hidden_dropout_prob=p, attention_probs_dropout_prob=p)
    ids, types, mask, labels, nsp = make_batch(np, B, T)
    if side == "torch":
        import torch
        import transformers
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = transformers.BertForPreTraining(transformers.BertConfig(**cfg, attn_implementation="eager")).float()
        model.train(dropout)
        batch = {k: torch.from_numpy(v) for k, v in dict(
            input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels,
            next_sentence_label=nsp).items()}

        def step():
            model.zero_grad(set_to_none=True)
            loss = model(**batch).loss
            loss.backward()
            return loss.item()
        return step, f"torch {torch.__version__} threads={torch.get_num_threads()}"
    from numpy_bert import BertConfig
    from numpy_bert.model import BertForPreTraining
    model = BertForPreTraining(BertConfig(**cfg), seed=0, dtype=np.float32)
    if dropout:
        model.train()

    def step():
        loss, grads = model.loss_and_grads(ids, types, mask, labels, nsp)
        return loss
    return step, f"numpy {np.__version__}: {blas_info()}"


def worker(side, B, T, repeats, threads, dropout):
    """One side alone in this process: best step time and peak RSS."""
    import numpy as np
    step, info = build(side, B, T, threads, dropout)
    result = {"side": side, "info": info, "masked": int((make_batch(np, B, T)[3] != -100).sum()),
              "rss_model_mb": rss_mb()}
    result["first_loss"] = step()                                # warm-up
    can_reset = reset_peak()
    base = rss_mb()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    result.update(best_s=min(times), times=times, peak_rss_mb=rss_mb("VmHWM"),
                  peak_above_model_mb=rss_mb("VmHWM") - base if can_reset else None)
    return result


def interleaved(B, T, repeats, threads, dropout):
    """Both sides in one process, steps alternating, so that a busy machine slows both alike."""
    steps = {side: build(side, B, T, threads, dropout)[0] for side in ("numpy", "torch")}
    times = {side: [] for side in steps}
    for step in steps.values():
        step()                                                    # warm-up
    for _ in range(repeats):
        for side, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[side].append(time.perf_counter() - t0)
    return {side: min(t) for side, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--dropout", action="store_true", help="train mode, dropout 0.1 on both sides")
    parser.add_argument("--worker", choices=["numpy", "torch", "interleaved"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "interleaved":
        print(json.dumps(interleaved(args.batch, args.seq, args.repeats, args.threads, args.dropout)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.seq, args.repeats, args.threads, args.dropout)))
        return
    res = {}
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    for side in ("numpy", "torch", "interleaved"):
        cmd = [sys.executable, __file__, "--worker", side, "--repeats", str(args.repeats),
               "--threads", str(args.threads), "--batch", str(args.batch), "--seq", str(args.seq)]
        if args.dropout:
            cmd.append("--dropout")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"{side} worker failed:\n{out.stderr}")
        res[side] = json.loads(out.stdout.strip().splitlines()[-1])
    a, b, i = res["numpy"], res["torch"], res["interleaved"]
    print(f"bert-base-cased size, float32, train step (MLM + NSP loss, forward + backward), batch "
          f"{args.batch} x {args.seq}, {a['masked']} masked, dropout {'on' if args.dropout else 'off'}, "
          f"{args.threads} threads, best of {args.repeats}; load: {os.getloadavg()[0]:.2f}")
    for side in ("numpy", "torch"):
        r = res[side]
        print(f"  {side:6s} {r['info']}\n         step {r['best_s']:.3f} s (all: "
              + ", ".join(f"{t:.2f}" for t in r["times"]) + f"), first loss {r['first_loss']:.4f}, "
              f"RSS after model {r['rss_model_mb']:.0f} MB, peak {r['peak_rss_mb']:.0f} MB")
    print(f"one process, steps alternating: numpy_bert {i['numpy']:.3f} s, torch {i['torch']:.3f} s, "
          f"time ratio {i['numpy'] / i['torch']:.2f}")
    print(f"separate processes: time ratio {a['best_s'] / b['best_s']:.2f}, "
          f"peak RSS ratio {a['peak_rss_mb'] / b['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
