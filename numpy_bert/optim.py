"""BERT's optimizer: Adam with decoupled weight decay, warmup + linear decay, clipping.

This follows google-research/bert ``optimization.py``, the code that pretrained
BERT, step by step:

1. ``clip_by_global_norm(grads, 1.0)``: every gradient is scaled by the same
   factor so that the norm of all gradients together is at most 1.0
   (``tf.clip_by_global_norm``).
2. ``learning_rate(step, ...)``: linear warmup from 0 to the peak learning rate,
   then linear decay back to 0 at the last step.
3. ``AdamWeightDecay.step(grads, lr)``: Adam *without* bias correction, with
   eps = 1e-6, and a weight decay that is added to the update instead of to the
   loss (decoupled weight decay), skipped for LayerNorm and bias parameters.

``AdamW`` is the PyTorch flavour (``torch.optim.AdamW``): the same update with
Adam's bias correction and eps = 1e-8; ``clip_grad_norm`` is PyTorch's clipping
(``torch.nn.utils.clip_grad_norm_``, a 1e-6 added to the norm). Together with
``learning_rate`` they are HF Trainer's recipe (tests/reference/test_heads_live.py
follows a PyTorch fine-tuning run with them, every loss within 1e-9).

Parameters and gradients are the flat dicts used everywhere in numpy_bert,
keyed by HuggingFace parameter names (``bert.encoder.layer.0.output.dense.weight``).
Updates happen in place, so a float32 parameter stays float32 and the model that
owns the dict sees the new values at once.
"""

import re

import numpy as np

from numpy_bert.fast import threads

# google-research/bert run_pretraining.py: exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
# matched with re.search against the variable name. In HF names this selects every
# "...LayerNorm.weight", "...LayerNorm.bias", "....bias" and "cls.predictions.bias".
NO_DECAY_PATTERNS = ("LayerNorm", "layer_norm", "bias")


def use_weight_decay(name, exclude=NO_DECAY_PATTERNS):
    """True when the parameter called ``name`` gets weight decay.

        >>> use_weight_decay("bert.encoder.layer.0.attention.self.query.weight")
        True
        >>> use_weight_decay("bert.embeddings.LayerNorm.weight"), use_weight_decay("cls.predictions.bias")
        (False, False)
    """
    return not any(re.search(pattern, name) for pattern in exclude)


def learning_rate(step, peak_lr, warmup_steps, total_steps):
    """The learning rate for update number ``step`` (0 for the first update).

    Linear warmup, then linear decay to 0 (HF ``get_linear_schedule_with_warmup``):

        lr(step) = peak_lr * step / warmup_steps                                  if step < warmup_steps
        lr(step) = peak_lr * (total_steps - step) / (total_steps - warmup_steps)  otherwise, never below 0

    so the first update has lr 0 when there is a warmup, the peak is reached at
    ``step == warmup_steps`` and lr is 0 again at ``step == total_steps``.
    (google-research/bert decays from the start, ``peak_lr * (1 - step / total_steps)``,
    and lets warmup override the first steps, so its peak after warmup is slightly
    lower; the shape is the same.)
    """
    if step < 0 or total_steps <= 0 or warmup_steps < 0:
        raise ValueError(f"learning_rate needs step >= 0, total_steps > 0 and warmup_steps >= 0; "
                         f"got step={step}, warmup_steps={warmup_steps}, total_steps={total_steps}")
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def global_norm(grads):
    """sqrt(sum over every gradient tensor g of sum(g ** 2)), as a Python float."""
    total = 0.0
    for g in grads.values():
        flat = g.ravel()
        total += float(np.dot(flat, flat))
    return float(np.sqrt(total))


def clip_by_global_norm(grads, max_norm=1.0):
    """Scale every gradient in place by ``max_norm / max(norm, max_norm)``; return the norm before.

    This is ``tf.clip_by_global_norm``: with ``norm = global_norm(grads)``,

        g <- g * max_norm / max(norm, max_norm)

    so gradients are left alone when ``norm <= max_norm`` and otherwise all shrink by
    the same factor, which keeps their direction. (``torch.nn.utils.clip_grad_norm_``
    divides by ``norm + 1e-6`` instead, a difference of about 1e-6 relative.) A NaN or
    infinite norm is returned as is and the gradients are left untouched: the caller
    should stop (see ``numpy_bert.train``).
    """
    norm = global_norm(grads)
    if np.isfinite(norm) and norm > max_norm:
        _scale(grads, max_norm / norm)
    return norm


def clip_grad_norm(grads, max_norm=1.0):
    """PyTorch's ``torch.nn.utils.clip_grad_norm_`` (what HF's Trainer runs), in place;
    returns the norm before. With ``norm = global_norm(grads)``:

        g <- g * min(1, max_norm / (norm + 1e-6))

    ``clip_by_global_norm`` without the 1e-6 gives factors that differ by about 1e-6 / norm;
    through Adam, whose update divides by sqrt(v), that moves a fine-tuning run's loss by
    ~1e-8 in 20 steps: use this one to follow a PyTorch run exactly. A NaN or infinite norm
    leaves the gradients untouched.
    """
    norm = global_norm(grads)
    coef = max_norm / (norm + 1e-6)
    if np.isfinite(norm) and coef < 1.0:
        _scale(grads, coef)
    return norm


def _scale(grads, factor):
    for g in grads.values():
        g *= g.dtype.type(factor)


_SPLIT_SIZE = 1 << 18  # parameters from this many elements are updated in two row blocks


class AdamWeightDecay:
    """BERT's optimizer (google-research/bert ``AdamWeightDecayOptimizer``).

    For every parameter p with gradient g, at each step with learning rate lr:

        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g ** 2
        update = m / (sqrt(v) + eps)                 # no bias correction in BERT
        update = update + weight_decay * p           # only if use_weight_decay(name)
        p <- p - lr * update

    The weight decay is "decoupled": it is added to the update, not to the loss,
    so it does not go through m and v (Loshchilov & Hutter, "Decoupled Weight
    Decay Regularization"). LayerNorm and bias parameters get no weight decay.

    With ``bias_correction=True`` (what ``AdamW`` sets) m and v are divided by
    ``1 - beta1 ** t`` and ``1 - beta2 ** t`` (t = 1 for the first step) before
    the update, as ``torch.optim.AdamW`` does:

        update = (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + eps)

    Usage, one training step::

        opt = AdamWeightDecay(model.params)
        loss, grads = model.loss_and_grads(...)
        clip_by_global_norm(grads, 1.0)
        opt.step(grads, lr=learning_rate(opt.step_count, 1e-4, 10_000, 1_000_000))
    """

    def __init__(self, params, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6,
                 exclude_from_weight_decay=NO_DECAY_PATTERNS, bias_correction=False):
        if not isinstance(params, dict) or not params:
            raise TypeError("the optimizer needs the model's parameters as a non-empty dict name -> array "
                            "(model.params)")
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0 and eps > 0.0 and weight_decay >= 0.0):
            raise ValueError(f"need 0 <= beta1, beta2 < 1, eps > 0 and weight_decay >= 0; got beta1={beta1}, "
                             f"beta2={beta2}, eps={eps}, weight_decay={weight_decay}")
        self.params = params
        self.weight_decay = float(weight_decay)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        self.bias_correction = bool(bias_correction)
        self.decay = {name: use_weight_decay(name, exclude_from_weight_decay) for name in params}
        # first and second moments, same shape and dtype as the parameter
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self.step_count = 0  # number of updates done so far

    def step(self, grads, lr):
        """Apply one update with learning rate ``lr`` to every parameter, in place."""
        missing = set(self.params) - set(grads)
        if missing:
            raise ValueError(f"no gradient for {len(missing)} parameter(s), e.g. {sorted(missing)[0]!r}; "
                             f"pass the full grads dict from loss_and_grads")
        for name, p in self.params.items():
            if grads[name].shape != p.shape:
                raise ValueError(f"gradient {name!r} has shape {grads[name].shape}, the parameter {p.shape}")
        self.step_count += 1
        t = self.step_count
        bc1 = 1.0 - self.beta1 ** t
        bc2 = 1.0 - self.beta2 ** t

        def update(item):  # one parameter, or a block of its rows: every element on its own
            name, rows = item
            p, g, m, v = self.params[name][rows], grads[name][rows], self.m[name][rows], self.v[name][rows]
            dt = p.dtype.type
            m *= dt(self.beta1)
            m += dt(1.0 - self.beta1) * g                       # m = beta1 m + (1 - beta1) g
            v *= dt(self.beta2)
            v += dt(1.0 - self.beta2) * (g * g)                 # v = beta2 v + (1 - beta2) g^2
            if self.bias_correction:
                denom = np.sqrt(v / dt(bc2))
                denom += dt(self.eps)
                upd = (m / dt(bc1)) / denom                     # m_hat / (sqrt(v_hat) + eps)
            else:
                denom = np.sqrt(v)
                denom += dt(self.eps)
                upd = m / denom                                 # m / (sqrt(v) + eps)
            if self.decay[name] and self.weight_decay:
                upd += dt(self.weight_decay) * p                # decoupled weight decay
            upd *= dt(lr)
            p -= upd                                            # p = p - lr * update

        # the word embeddings are most of the work: large parameters go in two row blocks,
        # spread over numpy_bert's threads when it spreads its work (threads.spread_products)
        items = []
        for name, p in self.params.items():
            if p.size >= _SPLIT_SIZE and p.shape[0] >= 2:
                half = p.shape[0] // 2
                items += [(name, slice(0, half)), (name, slice(half, None))]
            else:
                items.append((name, Ellipsis))
        if threads.spread_products():
            threads.parallel(update, items)
        else:
            for item in items:
                update(item)

    def state_dict(self):
        """The optimizer state as a flat dict of arrays (for ``save_safetensors``/``save_npz``).

        Keys: ``"m.<param name>"``, ``"v.<param name>"`` and ``"step"`` (an int64 scalar
        array). Hyper-parameters are not included: they come from the run's config. (Files
        written before the writers refused "/" in names have ``"m/<param name>"``;
        ``load_state_dict`` reads both.)
        """
        state = {"step": np.array(self.step_count, dtype=np.int64)}
        for name in self.params:
            state[f"m.{name}"] = self.m[name]
            state[f"v.{name}"] = self.v[name]
        return state

    def load_state_dict(self, state):
        """Restore what ``state_dict`` returned (copies into the existing arrays)."""
        state = {key.replace("/", ".", 1) if key[:2] in ("m/", "v/") else key: value
                 for key, value in state.items()}   # the names of older files: "m/<name>"
        expected = {"step"} | {f"{k}.{name}" for name in self.params for k in ("m", "v")}
        if set(state) != expected:
            extra = sorted(set(state) - expected)[:3]
            missing = sorted(expected - set(state))[:3]
            raise ValueError(f"optimizer state does not match the model's parameters "
                             f"(missing e.g. {missing}, unexpected e.g. {extra}); was it saved for another "
                             f"model configuration?")
        for name in self.params:
            for key, target in (("m", self.m[name]), ("v", self.v[name])):
                value = np.asarray(state[f"{key}.{name}"])
                if value.shape != target.shape:
                    raise ValueError(f"optimizer state {key}.{name} has shape {value.shape}, "
                                     f"the parameter {target.shape}")
                target[...] = value
        self.step_count = int(np.asarray(state["step"]))


class AdamW(AdamWeightDecay):
    """PyTorch's AdamW (``torch.optim.AdamW``): ``AdamWeightDecay`` with bias correction, eps 1e-8.

    torch writes the decay as ``p <- p * (1 - lr * weight_decay)`` before the Adam
    step; that is the same as adding ``weight_decay * p`` to the update, which is
    what ``AdamWeightDecay.step`` does.
    """

    def __init__(self, params, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                 exclude_from_weight_decay=NO_DECAY_PATTERNS):
        super().__init__(params, weight_decay=weight_decay, beta1=beta1, beta2=beta2, eps=eps,
                         exclude_from_weight_decay=exclude_from_weight_decay, bias_correction=True)


def make_optimizer(name, params, **kwargs):
    """``"adamweightdecay"`` (BERT's, the default) or ``"adamw"`` (PyTorch's)."""
    choices = {"adamweightdecay": AdamWeightDecay, "bert": AdamWeightDecay, "adamw": AdamW}
    key = str(name).lower().replace("_", "").replace("-", "")
    if key not in choices:
        raise ValueError(f"unknown optimizer {name!r}; choose 'adamweightdecay' (BERT's) or 'adamw' (PyTorch's)")
    return choices[key](params, **kwargs)
