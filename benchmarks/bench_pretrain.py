"""Pretraining speed: numpy_bert's training step against the same loop in PyTorch.

    python benchmarks/bench_pretrain.py [--repeats 3] [--steps 8] [--budget 60] [--threads 2]

Both sides train the ``tiny`` preset's model (numpy_bert.train.PRESETS["tiny"]: 2 layers,
hidden 128, 2 heads, intermediate 512) from the same initial weights, on the same batches
(the default corpus cut into sentence pairs and masked by numpy_bert.data, exactly as
``numpy-bert pretrain`` does), with dropout on, BERT's AdamWeightDecay, clipping to global
norm 1.0, and the MLM head computed only at the masked positions (google's
``gather_indexes``). The PyTorch side is transformers' ``BertForPreTraining`` (its encoder,
its heads) with ``torch.set_num_threads(--threads)`` (numpy_bert: ``--numpy-threads`` BLAS threads, 1 by
default as in ``numpy-bert pretrain``); its AdamWeightDecay is written with torch ops below.

1. Speed: ``--repeats`` rounds of ``--steps`` training steps (after one warm-up step), the
   two sides taking turns round by round on the same batches, so that a machine whose
   speed drifts slows both alike. Reported: tokens/s (real tokens, padding not counted,
   the same count ``numpy-bert pretrain`` prints), best of the rounds, and the ratio
   numpy_bert / PyTorch (> 1: numpy_bert faster) of the bests and the median of the
   per-round ratios.
2. Same wall-clock budget: each side trains for ``--budget`` seconds from the same start
   (learning-rate schedule sized to the steps its measured speed allows), then both are
   evaluated on the same held-out batches: MLM loss and accuracy, NSP loss and accuracy.

The machine may be shared: run it when it is quiet, and read the load printed at the end.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_data(settings, vocab, seed, n_batches):
    """Training batches, held-out batches and the tokenizer, built as numpy-bert pretrain does."""
    from numpy_bert.data import Masking, tokenize_documents
    from numpy_bert.tokenization import BertTokenizer
    from numpy_bert.train import PairStream, build_vocab, heldout_batches, load_documents, split_documents

    documents = load_documents(None)
    train_docs, heldout_docs = split_documents(documents, settings["heldout_fraction"], seed)
    if vocab is None:
        vocab = "/tmp/bench_pretrain_vocab.txt"
        if not os.path.exists(vocab):
            build_vocab(train_docs, settings["vocab_size"], vocab)
    tokenizer = BertTokenizer(vocab, do_lower_case=True)
    masking = Masking(tokenizer, max_predictions_per_seq=settings["max_predictions_per_seq"])
    stream = PairStream(tokenize_documents(train_docs, tokenizer), tokenizer, masking, settings)
    batches = [stream.next_batch() for _ in range(n_batches)]
    held = heldout_batches(tokenize_documents(heldout_docs, tokenizer), tokenizer, masking, settings)
    return batches, held, tokenizer


# ----------------------------------------------------------------------------- numpy_bert

class NumpyTrainer:
    def __init__(self, config, settings, seed):
        from numpy_bert.model import BertForPreTraining
        from numpy_bert.optim import AdamWeightDecay

        self.model = BertForPreTraining(config, seed=seed).train()
        self.opt = AdamWeightDecay(self.model.params)
        self.settings = settings
        self.initial = {k: v.copy() for k, v in self.model.params.items()}

    def reset(self):
        from numpy_bert.optim import AdamWeightDecay

        for k, v in self.initial.items():
            self.model.params[k][...] = v
        self.opt = AdamWeightDecay(self.model.params)

    def step(self, batch, lr):
        from numpy_bert.optim import clip_by_global_norm

        loss, grads = self.model.loss_and_grads(
            batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], labels=batch["labels"],
            next_sentence_label=batch["next_sentence_label"])
        clip_by_global_norm(grads, 1.0)
        self.opt.step(grads, lr)
        return loss

    def evaluate(self, held):
        from numpy_bert.train import evaluate

        return evaluate(self.model, held)


# ----------------------------------------------------------------------------- PyTorch

class TorchTrainer:
    """The same step with transformers' BertForPreTraining modules and torch autograd."""

    def __init__(self, config, numpy_params, threads):
        import torch
        import transformers

        torch.set_num_threads(threads)
        self.torch = torch
        hf_config = transformers.BertConfig(**{k: getattr(config, k) for k in (
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
            "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id")})
        self.model = transformers.BertForPreTraining(hf_config).float().train()
        self.named = list(self.model.named_parameters())
        self.initial = {k: torch.from_numpy(np.array(v)) for k, v in numpy_params.items()}
        assert set(self.initial) == {n for n, _ in self.named}, "parameter names differ"
        self.reset()

    def reset(self):
        torch = self.torch
        with torch.no_grad():
            for n, p in self.named:
                p.copy_(self.initial[n])
        self.m = [torch.zeros_like(p) for _, p in self.named]
        self.v = [torch.zeros_like(p) for _, p in self.named]
        self.decay = [not any(s in n for s in ("LayerNorm", "layer_norm", "bias")) for n, _ in self.named]

    def _losses(self, batch):
        torch = self.torch
        ids = torch.from_numpy(batch["input_ids"])
        types = torch.from_numpy(batch["token_type_ids"])
        mask = torch.from_numpy(batch["attention_mask"])
        labels = torch.from_numpy(batch["labels"]).reshape(-1)
        nsp_labels = torch.from_numpy(batch["next_sentence_label"])
        seq, pooled = self.model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask)[:2]
        rows = torch.nonzero(labels != -100).squeeze(1)
        logits = self.model.cls.predictions(seq.reshape(-1, seq.shape[-1])[rows])  # (M, V) gathered
        nsp_logits = self.model.cls.seq_relationship(pooled)
        ce = torch.nn.functional.cross_entropy
        return ce(logits, labels[rows]), ce(nsp_logits, nsp_labels), logits, nsp_logits, labels[rows]

    def step(self, batch, lr):
        torch = self.torch
        self.model.zero_grad(set_to_none=True)
        mlm, nsp, *_ = self._losses(batch)
        loss = mlm + nsp
        loss.backward()
        params = [p for _, p in self.named]
        with torch.no_grad():
            norm = torch.sqrt(sum((p.grad * p.grad).sum() for p in params)).item()
            scale = 1.0 / max(norm, 1.0)
            for p, m, v, decay in zip(params, self.m, self.v, self.decay):
                g = p.grad * scale
                m.mul_(0.9).add_(g, alpha=0.1)
                v.mul_(0.999).addcmul_(g, g, value=0.001)
                update = m / (v.sqrt() + 1e-6)
                if decay:
                    update.add_(p, alpha=0.01)
                p.sub_(update, alpha=lr)
        return loss.item()

    def evaluate(self, held):
        torch = self.torch
        self.model.eval()
        sums = np.zeros(6)
        with torch.no_grad():
            for batch in held:
                mlm, nsp, logits, nsp_logits, targets = self._losses(batch)
                m, n = targets.numel(), nsp_logits.shape[0]
                sums += [mlm.item() * m, (logits.argmax(-1) == targets).sum().item(), m,
                         nsp.item() * n, (nsp_logits.argmax(-1) == torch.from_numpy(batch["next_sentence_label"])).sum().item(), n]
        self.model.train()
        return {"heldout_mlm_loss": sums[0] / sums[2], "heldout_mlm_acc": sums[1] / sums[2],
                "heldout_nsp_loss": sums[3] / sums[5], "heldout_nsp_acc": sums[4] / sums[5]}


# ----------------------------------------------------------------------------- the benchmark

def tokens_per_s(trainers, batches, steps, repeats, lr):
    """Tokens/s of each trainer: ``repeats`` rounds, each round running the same ``steps``
    batches on every trainer in turn (so that a machine whose speed drifts slows both
    alike). Returns {name: [tokens/s per round]} and {name: [s/step per round]}."""
    for trainer in trainers.values():
        trainer.step(batches[0], lr)  # warm-up
    tps = {name: [] for name in trainers}
    sps = {name: [] for name in trainers}
    for r in range(repeats):
        chunk = batches[1 + r * steps: 1 + (r + 1) * steps]
        tokens = sum(int(b["attention_mask"].sum()) for b in chunk)
        for name, trainer in trainers.items():
            t = time.perf_counter()
            for batch in chunk:
                trainer.step(batch, lr)
            seconds = time.perf_counter() - t
            tps[name].append(tokens / seconds)
            sps[name].append(seconds / len(chunk))
    return tps, sps


def train_for(trainer, batches, budget, seconds_per_step, settings):
    from numpy_bert.optim import learning_rate

    trainer.reset()
    planned = max(1, int(budget / seconds_per_step))
    start, step = time.perf_counter(), 0
    while time.perf_counter() - start < budget and step < len(batches):
        trainer.step(batches[step], learning_rate(step, settings["lr"], min(settings["warmup_steps"], planned // 10),
                                                  planned))
        step += 1
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per repeat")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of training per side (0: skip)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (torch.set_num_threads)")
    parser.add_argument("--numpy-threads", type=int, default=1,
                        help="NumPy BLAS threads (default 1, as numpy-bert pretrain; 0 = NumPy's default)")
    parser.add_argument("--vocab", help="vocab.txt (default: weights/numpy-bert-tiny/vocab.txt, else train one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from numpy_bert.fast import get_num_threads, set_blas_threads
    from numpy_bert.utils import keep_freed_memory
    from numpy_bert.train import PRESETS, _model_config

    if args.numpy_threads > 0:
        set_blas_threads(args.numpy_threads)
    keep_freed_memory()  # as numpy-bert pretrain does (it helps both sides: one process)

    settings = dict(PRESETS["tiny"], seed=args.seed, preset="tiny", optimizer="adamweightdecay")
    vocab = args.vocab
    shipped = Path(__file__).resolve().parent.parent / "weights" / "numpy-bert-tiny" / "vocab.txt"
    if vocab is None and shipped.is_file():
        vocab = str(shipped)
    speed_batches = 1 + args.repeats * args.steps
    budget_batches = int(args.budget * 40) + 10  # more than either side can use
    t = time.perf_counter()
    batches, held, tokenizer = load_data(settings, vocab, args.seed, max(speed_batches, budget_batches))
    print(f"data: {len(batches)} batches of {settings['batch_size']} pairs (T <= {settings['seq_len']}), "
          f"{len(held)} held-out batches, built in {time.perf_counter() - t:.1f}s")
    config = _model_config(settings, len(tokenizer.vocab))

    np_trainer = NumpyTrainer(config, settings, args.seed)
    torch_trainer = TorchTrainer(config, np_trainer.initial, args.threads)

    lr = settings["lr"] * 0.1
    tps, sps = tokens_per_s({"numpy_bert": np_trainer, "PyTorch": torch_trainer}, batches, args.steps,
                            args.repeats, lr)
    ratios = [a / b for a, b in zip(tps["numpy_bert"], tps["PyTorch"])]
    np_tps, th_tps = max(tps["numpy_bert"]), max(tps["PyTorch"])
    np_sps = min(sps["numpy_bert"])
    th_sps = min(sps["PyTorch"])
    print(f"\ntraining speed, tiny preset (B={settings['batch_size']}, T<={settings['seq_len']}, {args.repeats} rounds "
          f"x {args.steps} steps, the two sides alternating round by round on the same batches):")
    print(f"  numpy_bert : {np_tps:10,.0f} tokens/s best  ({np_sps:.3f} s/step, BLAS threads "
          f"{args.numpy_threads or 'default'}, numpy_bert threads {get_num_threads()})")
    print(f"  PyTorch    : {th_tps:10,.0f} tokens/s best  ({th_sps:.3f} s/step, {args.threads} threads)")
    print(f"  per round (tokens/s): numpy_bert {[round(v) for v in tps['numpy_bert']]}, "
          f"PyTorch {[round(v) for v in tps['PyTorch']]}")
    print(f"  ratio numpy_bert / PyTorch: best {np_tps / th_tps:.2f}, median of rounds "
          f"{float(np.median(ratios)):.2f}  (> 1: numpy_bert faster)")

    if args.budget > 0:
        print(f"\nsame wall-clock budget: {args.budget:.0f}s of training each, same start, same batches")
        start_np = np_trainer.evaluate(held)
        for name, trainer, sps in (("numpy_bert", np_trainer, np_sps), ("PyTorch", torch_trainer, th_sps)):
            steps = train_for(trainer, batches, args.budget, sps, settings)
            h = trainer.evaluate(held)
            print(f"  {name:10s}: {steps:5d} steps | held-out MLM loss {h['heldout_mlm_loss']:.3f} "
                  f"({h['heldout_mlm_loss'] / start_np['heldout_mlm_loss']:.3f} of the start) acc "
                  f"{h['heldout_mlm_acc']:.3f} | NSP loss {h['heldout_nsp_loss']:.3f} acc {h['heldout_nsp_acc']:.3f}")
    print(f"\nload average (1, 5, 15 min): {os.getloadavg()}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
