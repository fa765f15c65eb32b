"""Micro-benchmark: numpy_bert.fast (the layers the model uses) against PyTorch, layer by layer, at bert-base sizes.

    python benchmarks/bench_layers.py [--repeat 7] [--threads 2] [--only gelu]

float32, B=8, T=128 (H=768, I=3072, NH=12, V=28996). PyTorch and numpy_bert's own
threads (numpy_bert.fast.set_num_threads: independent matrix products) both get
``--threads``; set OPENBLAS_NUM_THREADS to the same number for NumPy's BLAS before
running. Each side runs ``--repeat`` times; the
best time is reported, and the ratio numpy / torch (< 1 means numpy_bert is faster).
The torch backward is autograd's (``torch.autograd.grad`` on a kept graph).
"""

import argparse
import os
import time

import numpy as np


def best_ms(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=None, help="only benchmarks whose name contains this")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from numpy_bert import fast as L

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    B, T, H, I, NH, V, M = 8, 128, 768, 3072, 12, 28996, 154
    f32 = np.float32

    def rand(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(f32)

    def t(a, grad=True):
        return torch.tensor(a, requires_grad=grad)

    x_h, x_i, w_ih = rand(B, T, H), rand(B, T, I), rand(I, H, scale=0.02)
    b_i, w_h, b_h = rand(I), rand(H), rand(H)
    scores = rand(B, NH, T, T, scale=3.0)
    ids = rng.integers(0, V, size=(B, T))
    emb = rand(V, H, scale=0.02)
    logits = rand(M, V, scale=2.0)
    labels = rng.integers(0, V, size=M)
    am = np.ones((B, T), np.int64)
    am[::2, 100:] = 0
    mask = L.additive_attention_mask(am, f32)
    ws = [rand(H, H, scale=0.02), rand(H)] * 3

    cases = []  # (name, numpy forward, numpy backward, torch forward, torch inputs)

    def add(name, np_fwd, np_bwd, torch_fwd, torch_inputs):
        cases.append((name, np_fwd, np_bwd, torch_fwd, torch_inputs))

    tx_i = t(x_i)
    add("gelu (8x128x3072)", lambda: L.gelu_forward(x_i), L.gelu_backward, lambda: F.gelu(tx_i), [tx_i])
    add("gelu_tanh (8x128x3072)", lambda: L.gelu_tanh_forward(x_i), L.gelu_tanh_backward,
        lambda: F.gelu(tx_i, approximate="tanh"), [tx_i])
    tx_h, tw_h, tb_h = t(x_h), t(w_h), t(b_h)
    add("layer_norm (8x128x768)", lambda: L.layer_norm_forward(x_h, w_h, b_h, 1e-12), L.layer_norm_backward,
        lambda: F.layer_norm(tx_h, (H,), tw_h, tb_h, 1e-12), [tx_h, tw_h, tb_h])
    ts = t(scores)
    add("softmax (8x12x128x128)", lambda: L.softmax_forward(scores), L.softmax_backward,
        lambda: torch.softmax(ts, -1), [ts])
    gen = np.random.default_rng(1)
    add("dropout p=0.1 (8x128x768)", lambda: L.dropout_forward(x_h, 0.1, gen, True), L.dropout_backward,
        lambda: F.dropout(tx_h, 0.1, True), [tx_h])
    tw_ih, tb_i = t(w_ih), t(b_i)
    add("linear 768->3072 (8x128)", lambda: L.linear_forward(x_h, w_ih, b_i), L.linear_backward,
        lambda: F.linear(tx_h, tw_ih, tb_i), [tx_h, tw_ih, tb_i])
    temb = t(emb)
    tids = torch.tensor(ids)
    add("embedding (8x128 of 28996x768)", lambda: L.embedding_forward(ids, emb, 0), L.embedding_backward,
        lambda: F.embedding(tids, temb, padding_idx=0), [temb])
    tlog = t(logits)
    tlab = torch.tensor(labels)
    add("cross_entropy (154x28996)", lambda: L.cross_entropy_forward(logits, labels),
        lambda d, c: L.cross_entropy_backward(1.0, c),
        lambda: F.cross_entropy(tlog, tlab), [tlog])
    tws = [t(w) for w in ws]
    tmask = torch.tensor(mask)

    def torch_attention():
        HS = H // NH

        def heads(a):
            return a.view(B, T, NH, HS).transpose(1, 2)

        q, k, v = (heads(F.linear(tx_h, tws[i], tws[i + 1])) for i in (0, 2, 4))
        p = torch.softmax(q @ k.transpose(2, 3) * HS ** -0.5 + tmask, -1)
        return (p @ v).transpose(1, 2).reshape(B, T, H)

    add("self_attention (8x128x768, 12 heads)", lambda: L.self_attention_forward(x_h, *ws, mask, NH),
        L.self_attention_backward, torch_attention, [tx_h] + tws)
    add("erf (8x128x3072, forward only)", lambda: (L.erf(x_i), None), None, lambda: torch.erf(tx_i), None)

    L.set_num_threads(args.threads)
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"numpy_bert threads {L.get_num_threads()}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, float32, best of {args.repeat}")
    print(f"load average: {os.getloadavg()}")
    header = f"{'layer':38s} {'numpy fwd':>10s} {'torch fwd':>10s} {'ratio':>6s}   " \
             f"{'numpy bwd':>10s} {'torch bwd':>10s} {'ratio':>6s}"
    print(header)
    print("-" * len(header))
    for name, np_fwd, np_bwd, torch_fwd, torch_inputs in cases:
        if args.only and args.only not in name:
            continue
        np_f = best_ms(np_fwd, args.repeat)
        with torch.no_grad():
            t_f = best_ms(torch_fwd, args.repeat)
        line = f"{name:38s} {np_f:9.2f}ms {t_f:9.2f}ms {np_f / t_f:6.2f}"
        if np_bwd is not None:
            out, cache = np_fwd()
            dout = np.ones_like(out) if np.ndim(out) else 1.0
            np_b = best_ms(lambda: np_bwd(dout, cache), args.repeat)
            tout = torch_fwd()
            tdout = torch.ones_like(tout)
            t_b = best_ms(lambda: torch.autograd.grad(tout, torch_inputs, tdout, retain_graph=True),
                          args.repeat)
            line += f"   {np_b:9.2f}ms {t_b:9.2f}ms {np_b / t_b:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
