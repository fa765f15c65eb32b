"""Head ablation: how much a loss rises when one attention head is switched off.

Each head is masked in turn (``head_mask`` 0 for that head of that layer, 1 elsewhere:
HF's head mask, which scales the head's attention probabilities, so its context is 0)
and the loss is measured again (Michel et al. 2019, "Are Sixteen Heads Really Better
than One?"):

    change[l, h] = loss(head (l, h) off) - loss(all heads on)

A large positive change: the model leans on that head; near 0: it could go. Next to it,
the first-order estimate from one backward pass, ``-dloss/dhead_mask[l, h]`` (the
gradient at head_mask = 1 that loss_and_grads(return_input_grads=True) returns), which
predicts the change without L * NH forward passes where the loss is smooth enough.

The loss is any function of the head mask; two are built here:

- ``mlm_loss``: the masked-LM cross-entropy on texts with some tokens masked (a model
  with an MLM head, such as the shipped numpy-bert-tiny);
- ``contrastive_loss``: for a sentence-embedding encoder such as all-MiniLM-L6-v2 (which
  has no MLM head), the in-batch contrastive loss it was trained with
  (sentence-transformers' MultipleNegativesRankingLoss): mean-pooled, normalised
  embeddings of pairs (a_i, b_i), cross-entropy of ``scale * cos(a_i, b_j)`` over j
  with the target j = i.

    >>> loss = mlm_loss(model, tokenizer, ["The cat sat on the mat."])   # doctest: +SKIP
    >>> result = head_ablation(loss, model.config)
    >>> print(format_ablation_table(result))

Dimension key: L layers, NH heads, B texts, T tokens, H hidden.
"""

import numpy as np

from numpy_bert import model as models
from numpy_bert.layers import cross_entropy_forward


def head_ablation(loss, config, gradient=None):
    """Masks each head in turn; ``loss(head_mask (L, NH)) -> float``.

    Returns {"base": loss with every head on, "loss": (L, NH) with that head off,
    "change": loss - base, "estimate": -gradient (L, NH) or None}, float64.
    ``gradient``: dloss/dhead_mask at all ones, when known (the loss functions here have
    a ``.gradient()``), for the first-order estimate.
    """
    L, NH = config.num_hidden_layers, config.num_attention_heads
    on = np.ones((L, NH))
    base = float(loss(on))
    losses = np.empty((L, NH))
    for l in range(L):
        for h in range(NH):
            mask = on.copy()
            mask[l, h] = 0.0
            losses[l, h] = loss(mask)
    estimate = None if gradient is None else -np.asarray(gradient, np.float64).reshape(L, NH)
    return {"base": base, "loss": losses, "change": losses - base, "estimate": estimate}


def format_ablation_table(result):
    """The changes as a text table: a row per layer, a column per head, then the base loss."""
    change = result["change"]
    L, NH = change.shape
    lines = ["layer " + "".join(f"{'head ' + str(h):>10}" for h in range(NH))]
    for l in range(L):
        lines.append(f"{l:>5} " + "".join(f"{change[l, h]:>+10.4f}" for h in range(NH)))
    lines.append(f"loss with every head on: {result['base']:.4f}; each cell: the loss with that head off, minus it")
    return "\n".join(lines)


def plot_head_ablation(result, ax=None, title="loss change when one head is masked"):
    """A heat map of result["change"] (layers down, heads across), each cell labelled;
    with an estimate, a second panel with it. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    panels = [("masked", result["change"])]
    if result.get("estimate") is not None:
        panels.append(("first-order estimate, -dloss/dhead_mask", result["estimate"]))
    if ax is None:
        L, NH = result["change"].shape
        fig, axes = plt.subplots(1, len(panels), figsize=(1.2 + 0.75 * NH * len(panels), 1.2 + 0.5 * L),
                                 squeeze=False)
        axes = axes[0]
    else:
        axes, fig = [ax], ax.figure
        panels = panels[:1]
    limit = max(1e-12, max(float(np.max(np.abs(v))) for _, v in panels))
    for a, (name, values) in zip(axes, panels):
        image = a.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
        a.set_xlabel("head")
        a.set_ylabel("layer")
        a.set_title(name, fontsize=9)
        a.set_xticks(range(values.shape[1]))
        a.set_yticks(range(values.shape[0]))
        if values.size <= 144:
            for (l, h), v in np.ndenumerate(values):
                a.text(h, l, f"{v:+.3f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.suptitle(f"{title} (loss {result['base']:.3f})", fontsize=10)
    return fig


class _Loss:
    """A loss of the head mask, callable, with .gradient() at all heads on."""

    def __init__(self, value, gradient):
        self._value, self._gradient = value, gradient

    def __call__(self, head_mask):
        return self._value(head_mask)

    def gradient(self):
        return self._gradient()


def _batch(tokenizer, texts):
    encoding = tokenizer(list(texts), padding=True)
    return (np.array(encoding["input_ids"]), np.array(encoding["token_type_ids"]),
            np.array(encoding["attention_mask"]))


def mlm_loss(model, tokenizer, texts, fraction=0.15, seed=0):
    """The masked-LM loss on ``texts`` with ``fraction`` of each text's ordinary tokens
    (at least one) replaced by [MASK], the same tokens every call (rng ``seed``).

    model: a BertForPreTraining or BertForMaskedLM. Returns a callable loss(head_mask)."""
    if not isinstance(model, (models.BertForPreTraining, models.BertForMaskedLM)):
        raise TypeError(f"mlm_loss needs a model with an MLM head (BertForPreTraining, BertForMaskedLM), "
                        f"got {type(model).__name__}")
    ids, types, attention = _batch(tokenizer, texts)
    rng = np.random.default_rng(seed)
    labels = np.full(ids.shape, models.IGNORE_INDEX)
    ordinary = (attention == 1) & ~np.isin(ids, tokenizer.all_special_ids)
    for b in range(len(ids)):
        candidates = np.flatnonzero(ordinary[b])
        if candidates.size == 0:
            raise ValueError(f"text {b} has no ordinary token to mask: {texts[b]!r}")
        chosen = rng.choice(candidates, size=max(1, round(fraction * candidates.size)), replace=False)
        labels[b, chosen] = ids[b, chosen]
    masked = np.where(labels != models.IGNORE_INDEX, tokenizer.mask_token_id, ids)
    kwargs = dict(token_type_ids=types, attention_mask=attention, labels=labels)

    def value(head_mask):
        return model.loss_and_grads(masked, head_mask=head_mask, **kwargs)[0]

    def gradient():
        return model.loss_and_grads(masked, return_input_grads=True, **kwargs)[1]["head_mask"]

    return _Loss(value, gradient)


def contrastive_loss(model, tokenizer, pairs, scale=20.0):
    """The in-batch contrastive loss of sentence pairs (a_i, b_i) for an encoder
    (BertModel), as sentence-transformers' MultipleNegativesRankingLoss: embeddings
    e = normalise(mean of the last hidden state over the real tokens), and

        loss = mean_i cross_entropy(scale * [cos(a_i, b_j)]_j, target i)

    Forward only (its .gradient() is not available: returns None)."""
    if not isinstance(model, models.BertModel) or len(pairs) < 2:
        raise ValueError("contrastive_loss needs an encoder model and at least 2 sentence pairs")
    a = _batch(tokenizer, [p[0] for p in pairs])
    b = _batch(tokenizer, [p[1] for p in pairs])

    def embed(batch, head_mask):
        ids, types, attention = batch
        x = model.sequence_output(ids, types, attention, head_mask=head_mask)          # (B, T, H)
        w = attention[..., None].astype(x.dtype)
        e = (x * w).sum(axis=1) / w.sum(axis=1)                                         # (B, H)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    def value(head_mask):
        similarity = scale * embed(a, head_mask) @ embed(b, head_mask).T                # (B, B)
        loss, _ = cross_entropy_forward(similarity.astype(np.float64), np.arange(len(pairs)))
        return float(loss)

    return _Loss(value, lambda: None)
