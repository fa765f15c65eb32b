"""How close numpy_bert runs to its BLAS limit: a step's time against its matrix products alone.

    python benchmarks/bench_blas_limit.py [--threads 2] [--batch 8] [--seq 128] [--repeats 3]

For bert-base-cased's size (float32, batch 8 x 128 by default) it lists every matrix
product of the forward (full MLM head, as bench_forward.py) and of the training step
(``loss_and_grads``, MLM at the masked positions + NSP, as bench_train_step.py), times
each product alone with NumPy's matmul at its shape (best of --repeats), and reports:

    BLAS limit = the sum of those products' times (what NumPy's matmul needs for the step's
                 FLOPs at those shapes, nothing else), and its GFLOP/s
    fraction   = BLAS limit / the step's measured time

A fraction of 1 would mean everything but the products (element-wise work, softmax,
Python) took no time. NumPy's BLAS threads follow --threads (set before NumPy loads).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def best_time(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def products(B, T, M, c, train):
    """(count, a_shape, b_shape) of every matrix product: linear layers as (N, K) @ (K, M),
    the attention's as stacks (B, NH, ., .) @ (B, NH, ., .)."""
    H, I, V, L, NH = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"], \
        c["num_attention_heads"]
    HS, N = H // NH, B * T
    out = []

    def linear(n, k, m, times=1):
        out.append((times, (n, k), (k, m)))                 # forward: x @ W.T
        if train:
            out.append((times, (n, m), (m, k)))             # dx = dout @ W
            out.append((times, (m, n), (n, k)))             # dW = dout.T @ x

    linear(N, H, H, 4 * L)                                  # q, k, v, attention output
    linear(N, H, I, L)                                      # intermediate
    linear(N, I, H, L)                                      # output
    out.append((L, (B, NH, T, HS), (B, NH, HS, T)))         # scores = q k^T
    out.append((L, (B, NH, T, T), (B, NH, T, HS)))          # context = probs v
    if train:
        out += [(L, (B, NH, T, T), (B, NH, T, HS)),         # dv = probs^T dcontext
                (L, (B, NH, T, HS), (B, NH, HS, T)),        # dprobs = dcontext v^T
                (L, (B, NH, T, T), (B, NH, T, HS)),         # dq = dscores k
                (L, (B, NH, T, T), (B, NH, T, HS))]         # dk = dscores^T q
    rows = M if train else N                                # the MLM head's rows
    linear(rows, H, H)                                      # transform dense
    linear(rows, H, V)                                      # tied decoder
    linear(B, H, H)                                         # pooler
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import numpy as np

    from bench_forward import BERT_BASE_CASED, blas_info
    from bench_train_step import make_batch
    from numpy_bert import BertConfig, BertForPreTraining

    print(f"numpy {np.__version__}, {blas_info()}, {args.threads} threads")
    model = BertForPreTraining(BertConfig(**BERT_BASE_CASED), seed=0)
    ids, types, mask, labels, nsp = make_batch(np, args.batch, args.seq)
    inputs = dict(input_ids=ids, token_type_ids=types, attention_mask=mask)
    M = int((labels != -100).sum())
    rng = np.random.default_rng(0)
    timings = {}
    for what, train in (("forward", False), ("train step", True)):
        if train:
            step = best_time(lambda: model.loss_and_grads(**inputs, labels=labels, next_sentence_label=nsp),
                             args.repeats)
        else:
            step = best_time(lambda: model(**inputs), args.repeats)
        limit, flops = 0.0, 0.0
        for count, a_shape, b_shape in products(args.batch, args.seq, M, BERT_BASE_CASED, train):
            key = (a_shape, b_shape)
            if key not in timings:
                a = rng.standard_normal(a_shape, dtype=np.float32)
                b = rng.standard_normal(b_shape, dtype=np.float32)
                timings[key] = best_time(lambda: a @ b, args.repeats)
            limit += count * timings[key]
            flops += count * 2 * np.prod(a_shape) * b_shape[-1]
        print(f"{what} {args.batch}x{args.seq}: {step:.3f} s; its products alone {limit:.3f} s "
              f"({flops / 1e9:.1f} GFLOP at {flops / limit / 1e9:.0f} GFLOP/s): "
              f"{limit / step:.0%} of the BLAS limit")
    a = rng.standard_normal((1024, 768), dtype=np.float32)
    b = rng.standard_normal((768, 3072), dtype=np.float32)
    t = best_time(lambda: a @ b, args.repeats)
    print(f"for scale: 1024x768 @ 768x3072 float32 runs at {2 * 1024 * 768 * 3072 / t / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
