"""Write tests/fixtures/optim/: 20 training steps of a tiny BERT, in float64, with PyTorch.

The optimizer tests (tests/test_optim.py) replay these steps with numpy_bert and
must reproduce every loss within 1e-9 and the final weights within 1e-8.

What is run here, with torch + transformers:

- a small random ``transformers.BertForPreTraining`` (vocab 99, hidden 32, 2 layers,
  4 heads, intermediate 37: odd sizes catch transposes), float64, dropout off, eager
  attention, with every LayerNorm and bias perturbed away from its 1/0 init so that
  no parameter is trivial;
- two fixed masked-LM + NSP batches (13 x 7 tokens with padding, labels -100 where
  nothing is predicted), used alternately;
- each step: loss = MLM loss + NSP loss, backward, ``clip_by_global_norm`` to 1.0
  as google-research/bert does (``tf.clip_by_global_norm``), then the update with the
  learning rate of linear warmup (5 steps) + linear decay (to 0 at step 20).

Two optimizers, each from the same initial weights:

- ``bert``: BERT's AdamWeightDecay, re-implemented below in torch from
  google-research/bert optimization.py (no bias correction, eps 1e-6, weight decay
  0.01 added to the update, none for LayerNorm / bias parameters);
- ``adamw``: ``torch.optim.AdamW`` (bias correction, eps 1e-8) with two parameter
  groups (weight decay 0.01 / 0.0) split by the same names.

Files written (no pickle): ``config.json``, ``initial.safetensors`` (HF parameter
names), ``batches.npz``, ``<opt>_final.safetensors`` and ``<opt>_trace.json`` (per-step
lr, losses and gradient norm before clipping).

Run from the repository root:  python tests/reference/make_optim_fixtures.py
"""

import json
import re
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "optim"
STEPS = 20
WARMUP = 5
PEAK_LR = 0.003  # 30x BERT-base's 1e-4: 20 steps move the weights visibly (loss 6.2 -> 1.3)
WEIGHT_DECAY = 0.01
CLIP = 1.0
NO_DECAY = ("LayerNorm", "layer_norm", "bias")

CONFIG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=37, hidden_act="gelu", hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0, max_position_embeddings=16, type_vocab_size=2,
              initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0)


def lr_at(step):
    """Linear warmup then linear decay (HF get_linear_schedule_with_warmup)."""
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    return PEAK_LR * max(0.0, (STEPS - step) / max(1, STEPS - WARMUP))


def decays(name):
    return not any(re.search(p, name) for p in NO_DECAY)


def clip_by_global_norm(params, max_norm):
    """tf.clip_by_global_norm: g <- g * max_norm / max(norm, max_norm); returns norm."""
    norm = torch.sqrt(sum((p.grad * p.grad).sum() for p in params)).item()
    if norm > max_norm:
        for p in params:
            p.grad.mul_(max_norm / norm)
    return norm


class AdamWeightDecay:
    """google-research/bert optimization.py AdamWeightDecayOptimizer, in torch."""

    def __init__(self, named_params, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6):
        self.named = list(named_params)
        self.wd, self.b1, self.b2, self.eps = weight_decay, beta1, beta2, eps
        self.m = {n: torch.zeros_like(p) for n, p in self.named}
        self.v = {n: torch.zeros_like(p) for n, p in self.named}

    @torch.no_grad()
    def step(self, lr):
        for name, p in self.named:
            g = p.grad
            next_m = self.b1 * self.m[name] + (1.0 - self.b1) * g
            next_v = self.b2 * self.v[name] + (1.0 - self.b2) * g * g
            update = next_m / (torch.sqrt(next_v) + self.eps)
            if decays(name):
                update = update + self.wd * p
            p.sub_(lr * update)
            self.m[name], self.v[name] = next_m, next_v


def make_model():
    torch.manual_seed(0)
    config = transformers.BertConfig(**CONFIG)
    config._attn_implementation = "eager"
    model = transformers.BertForPreTraining(config).double().eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            else:  # larger than the 0.02 init so activations are not all in the linear regime
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return config, model


def make_batches(vocab_size, batch=13, seq=7, count=2):
    rng = np.random.default_rng(1234)
    batches = {}
    for i in range(count):
        ids = rng.integers(5, vocab_size, size=(batch, seq))
        ids[:, 0] = 2  # "[CLS]"
        lengths = rng.integers(4, seq + 1, size=batch)
        lengths[0] = seq
        mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
        ids[np.arange(batch), lengths - 1] = 3  # "[SEP]"
        ids = np.where(mask == 1, ids, 0)
        types = np.zeros((batch, seq), dtype=np.int64)
        for b in range(batch):
            types[b, (lengths[b] // 2):lengths[b]] = 1
        labels = np.full((batch, seq), -100, dtype=np.int64)
        for b in range(batch):
            positions = rng.choice(np.arange(1, lengths[b] - 1), size=2, replace=False)
            labels[b, positions] = rng.integers(5, vocab_size, size=2)
        labels[3, :] = -100  # a row with nothing to predict
        nsp = rng.integers(0, 2, size=batch)
        batches.update({f"input_ids_{i}": ids, f"token_type_ids_{i}": types, f"attention_mask_{i}": mask,
                        f"labels_{i}": labels, f"next_sentence_label_{i}": nsp})
    return batches, count


def losses(model, batches, i):
    t = {k: torch.from_numpy(batches[f"{k}_{i}"]) for k in
         ("input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label")}
    out = model(input_ids=t["input_ids"], token_type_ids=t["token_type_ids"], attention_mask=t["attention_mask"])
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    mlm = ce(out.prediction_logits.reshape(-1, CONFIG["vocab_size"]), t["labels"].reshape(-1))
    nsp = ce(out.seq_relationship_logits, t["next_sentence_label"])
    return mlm, nsp


def train(model, optimizer_name, batches, count):
    named = list(model.named_parameters())
    params = [p for _, p in named]
    if optimizer_name == "bert":
        opt = AdamWeightDecay(named, weight_decay=WEIGHT_DECAY)
    else:
        opt = torch.optim.AdamW(
            [{"params": [p for n, p in named if decays(n)], "weight_decay": WEIGHT_DECAY},
             {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}],
            lr=PEAK_LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    trace = []
    for step in range(STEPS):
        model.zero_grad(set_to_none=False)
        mlm, nsp = losses(model, batches, step % count)
        loss = mlm + nsp
        loss.backward()
        norm = clip_by_global_norm(params, CLIP)
        lr = lr_at(step)
        if optimizer_name == "bert":
            opt.step(lr)
        else:
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
        trace.append({"step": step, "lr": lr, "loss": loss.item(), "mlm_loss": mlm.item(),
                      "nsp_loss": nsp.item(), "grad_norm": norm})
    return trace


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    config, model = make_model()
    initial = {n: p.detach().clone().contiguous() for n, p in model.named_parameters()}
    save_file(initial, str(OUT / "initial.safetensors"))
    cfg = dict(CONFIG, model_type="bert", architectures=["BertForPreTraining"])
    (OUT / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    batches, count = make_batches(CONFIG["vocab_size"])
    np.savez(OUT / "batches.npz", **batches)
    for name in ("bert", "adamw"):
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(initial[n])
        trace = train(model, name, batches, count)
        final = {n: p.detach().clone().contiguous() for n, p in model.named_parameters()}
        save_file(final, str(OUT / f"{name}_final.safetensors"))
        meta = {"optimizer": name, "steps": STEPS, "warmup_steps": WARMUP, "peak_lr": PEAK_LR,
                "weight_decay": WEIGHT_DECAY, "clip_norm": CLIP, "batches_used": "batch step % 2",
                "eps": 1e-6 if name == "bert" else 1e-8, "torch": torch.__version__,
                "transformers": transformers.__version__, "trace": trace}
        (OUT / f"{name}_trace.json").write_text(json.dumps(meta, indent=1) + "\n")
        moved = max((final[n] - initial[n]).abs().max().item() for n in final)
        print(f"{name}: loss {trace[0]['loss']:.4f} -> {trace[-1]['loss']:.4f}, "
              f"max weight change {moved:.3g}")


if __name__ == "__main__":
    main()
