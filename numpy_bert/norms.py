"""Per-layer norms during training: of the gradients, and of the activations.

``numpy-bert pretrain --log-norms`` (and ``finetune --log-norms``) add two lists to each
metrics.jsonl record of the training figures, index 0 for the embeddings and 1..L for
the encoder layers:

    layer_grad_norms       the L2 norm of the gradient of each group's parameters
                           (bert.embeddings.*, bert.encoder.layer.l.*), before clipping,
                           at the record's step
    layer_activation_rms   the root mean square of each group's output (the embeddings'
                           output, then each layer's x_l) over the real tokens of that
                           step's batch, from one forward pass without dropout after
                           the update (it draws no random numbers: the run is unchanged)

and draw them to ``norms.png`` in the run directory at the end (plot_norms). Gradients
that shrink layer after layer towards the embeddings, or activations that grow step
after step, show up here first.
"""

import numpy as np

from numpy_bert.utils import atomic_write


def _groups(config, prefix):
    return [prefix + "embeddings."] + [f"{prefix}encoder.layer.{l}." for l in range(config.num_hidden_layers)]


def gradient_norms(grads, config, prefix="bert."):
    """[||grad|| of the embeddings, of layer 0, ..., of layer L-1] (L2 over all their tensors)."""
    norms = []
    for group in _groups(config, prefix):
        total = sum(float(np.vdot(g, g)) for name, g in grads.items() if name.startswith(group))
        norms.append(float(np.sqrt(total)))
    return norms


def activation_rms(model, batch):
    """[RMS of the embedding output, of each layer's output] over the batch's real tokens,
    from a forward pass with dropout off (the model's training flag is restored)."""
    training = model.training
    model.eval()
    try:
        out = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"),
                    output_hidden_states=True)
    finally:
        model.training = training
    mask = batch.get("attention_mask")
    H = model.config.hidden_size
    real = (np.ones(np.shape(batch["input_ids"]), bool) if mask is None else np.asarray(mask) == 1).reshape(-1)
    return [float(np.sqrt(np.mean(np.square(h.reshape(-1, H)[real], dtype=np.float64))))
            for h in out["hidden_states"]]


def plot_norms(records, path=None, title="per-layer norms"):
    """Gradient norms and activation RMS per layer against the step, from metrics.jsonl
    records holding them. Writes a PNG to ``path`` (atomically) when given; returns the
    Figure."""
    import matplotlib.pyplot as plt

    rows = [r for r in records if "layer_grad_norms" in r]
    if not rows:
        raise ValueError("no record holds per-layer norms: train with --log-norms")
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, key, label in ((axes[0], "layer_grad_norms", "gradient norm (before clipping)"),
                           (axes[1], "layer_activation_rms", "activation RMS")):
        values = np.array([r[key] for r in rows])                      # (records, L + 1)
        colours = plt.cm.viridis(np.linspace(0, 0.9, values.shape[1]))
        for i in range(values.shape[1]):
            ax.plot(steps, values[:, i], color=colours[i], label="embeddings" if i == 0 else f"layer {i - 1}")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=80)
    return fig
