# %% [markdown]
# # 03 · The backward pass, derived by hand and checked
#
# **Assumes:** notebook 02 (the forward pass), the chain rule, matrix calculus at the level of
# "the gradient of $y = Wx$ with respect to $x$ is $W^\top$ times the upstream gradient".
#
# **Teaches:** how to derive the gradient of each of BERT's layers (linear, softmax, LayerNorm, GELU,
# self-attention, cross-entropy), how numpy_bert writes each one as a `*_backward` function, and how to
# *prove* a backward correct with a gradient check (how to choose its step, what a failing one looks like). At the end, every parameter tensor of a whole BERT is
# checked against finite differences and against PyTorch's autograd.
#
# **Notation.** For a layer `out, cache = f_forward(x, ...)`, the backward receives the upstream gradient
# $\bar{y} = \partial \mathcal{L} / \partial\, \text{out}$ (same shape as `out`) and returns
# $\bar{x} = \partial \mathcal{L} / \partial x$ for each array argument, in the forward's order:
# `dx, dweight, dbias = linear_backward(dout, cache)`. A bar means "gradient of the loss with respect to".

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from numpy_bert import BertConfig, BertForPreTraining, gradcheck, layers
from numpy_bert.special import erf

np.set_printoptions(precision=4, suppress=True, linewidth=110)
rng = np.random.default_rng(0)


def verdict(results):
    """One line per checked tensor: does the hand-written gradient agree with finite differences?"""
    for r in results:
        print(f"{r.layer:24s} d{r.name:10s} {str(r.shape):14s} "
              f"{'correct' if r.passed else 'WRONG'} (relative error <= {r.tol:g}: {r.passed})")

# %% [markdown]
# ## 0. How a gradient check works
#
# Take any layer $y = f(x)$ and a **random** upstream gradient $G$ of the shape of $y$. The scalar
# $s(x) = \sum G \odot f(x)$ has exactly the gradient the backward computes from `dout = G`. Finite
# differences estimate the same numbers, one entry at a time, with centred differences (error
# $O(h^2)$):
#
# $$\frac{\partial s}{\partial x_i} \approx \frac{s(x + h e_i) - s(x - h e_i)}{2h}$$
#
# We compare the analytic gradient $a$ with the numeric one $n$ by their relative error
# $\max_i |a_i - n_i| / \max(10^{-8}, \max_i |a_i| + |n_i|)$: about $10^{-9}$ or less in float64 when the
# backward is right, of order 1 when it is wrong. `numpy_bert.gradcheck.check_layer` does all of this.
#
# **Why random $G$ and not `out.sum()`?** With $G = 1$ some bugs are invisible. The softmax's outputs
# always sum to 1, so the gradient of `softmax(x).sum()` is exactly zero: a backward that returns zeros
# would "pass".

# %%
x = rng.standard_normal((4, 6))
out, cache = layers.softmax_forward(x)
ones = np.ones_like(out)
numeric = gradcheck.numerical_gradient(lambda: layers.softmax_forward(x)[0], x, range(x.size), ones)
print("largest |gradient| of softmax(x).sum():", f"{np.abs(numeric).max():.0e}", "(zero up to rounding)")
G = rng.standard_normal(out.shape)
numeric = gradcheck.numerical_gradient(lambda: layers.softmax_forward(x)[0], x, range(x.size), G)
print("largest |gradient| of sum(G * softmax(x)):", f"{np.abs(numeric).max():.2f}")

# %% [markdown]
# ### Choosing the step h: truncation against rounding
#
# The centred difference has two errors pulling in opposite directions. **Truncation**: the Taylor terms
# it drops leave an error of about $\tfrac{h^2}{6} f^{(3)}$, which shrinks as $h^2$. **Rounding**: each
# loss is computed with a relative error of about $\epsilon = 2.2\times10^{-16}$ (float64), and dividing
# their difference by $2h$ magnifies it to about $\epsilon\,|s|/h$, which *grows* as $h$ shrinks. The total
# is smallest in between, near $h \approx \epsilon^{1/3} \approx 10^{-5}$ for a function of scale 1.
# Measured on a LayerNorm like section 3's (a (4, 9) input, every entry checked), against its hand-written
# backward:

# %%
step_rng = np.random.default_rng(3)                  # its own generator: the later sections' draws stay as they were
x_ln = step_rng.standard_normal((4, 9)) * 3 + 1
gamma_ln, beta_ln = step_rng.standard_normal(9), step_rng.standard_normal(9)
y_ln, cache_ln = layers.layer_norm_forward(x_ln, gamma_ln, beta_ln, 1e-12)
G_ln = step_rng.standard_normal(y_ln.shape)
analytic_ln = layers.layer_norm_backward(G_ln, cache_ln)[0].reshape(-1)
steps = np.logspace(-1, -12, 45)
step_errors = np.array([gradcheck.relative_error(analytic_ln, gradcheck.numerical_gradient(
    lambda: layers.layer_norm_forward(x_ln, gamma_ln, beta_ln, 1e-12)[0], x_ln, range(x_ln.size), G_ln, h=h))
    for h in steps])
fig, ax = plt.subplots(figsize=(7, 4))
ax.loglog(steps, step_errors, "o-", ms=3, label="relative error, finite differences vs backward")
ax.loglog(steps, step_errors[0] * (steps / steps[0]) ** 2, "--", color="C2", lw=1,
          label=r"slope 2: truncation, $\propto h^2$")
ax.loglog(steps, step_errors[-1] * (steps[-1] / steps), ":", color="C3", lw=1.5,
          label=r"slope -1: rounding, $\propto \epsilon / h$")
for h, text in ((1e-6, "check_layer's h"), (1e-4, "section 7's h")):
    ax.axvline(h, color="gray", lw=0.8)
    ax.text(h, 2e-14, " " + text, rotation=90, va="bottom", fontsize=8, color="gray")
ax.set_ylim(1e-14, 1)
ax.invert_xaxis()
ax.set_xlabel("step h (smaller to the right)")
ax.set_ylabel("relative error")
ax.set_title("Centred differences on LayerNorm: truncation (left) against rounding (right)")
ax.legend(fontsize=8, loc="upper right")
ax.grid(alpha=0.3)
plt.show()
print(f"smallest error {step_errors.min():.0e}, at h = {steps[np.argmin(step_errors)]:.0e}")

# %% [markdown]
# Left of the minimum the error falls as $h^2$; right of it rounding takes over and the error grows as
# $1/h$. Anywhere near the bottom of the V the error is far below the order-1 error of a wrong formula,
# which is all a gradient check has to tell apart.
#
# ### What a failing check looks like
#
# A plausible bug: a LayerNorm backward that forgets the path through the variance (the third term of
# section 3's formula). The check catches it, in the one gradient it affects:

# %% tags=["check"]
def layer_norm_backward_without_the_variance_term(dout, cache):
    xhat, rstd, weight = cache
    g = dout * weight
    dx = rstd * (g - g.mean(-1, keepdims=True))            # missing: - xhat * mean(g * xhat)
    rows = tuple(range(dout.ndim - 1))
    return dx, (dout * xhat).sum(rows), dout.sum(rows)


bad = gradcheck.check_layer(lambda x, w, b: layers.layer_norm_forward(x, w, b, 1e-12),
                            layer_norm_backward_without_the_variance_term, [x_ln, gamma_ln, beta_ln],
                            names=["x", "weight", "bias"], layer="layer_norm (buggy)")
verdict(bad)
print(f"relative error of dx: {bad[0].rel_error:.2f}, against about 1e-9 or less for a right backward")

# %% [markdown]
# ## 1. Linear layer
#
# Forward, with HuggingFace's (out, in) weight layout and the rows of a batch flattened to $N$:
#
# $$Y = X W^\top + b, \qquad X \in \mathbb{R}^{N\times \text{in}},\; W \in \mathbb{R}^{\text{out}\times\text{in}},\; Y \in \mathbb{R}^{N\times\text{out}}$$
#
# Each $Y_{nj} = \sum_k X_{nk} W_{jk} + b_j$. By the chain rule,
# $\bar X_{nk} = \sum_j \bar Y_{nj}\, \partial Y_{nj}/\partial X_{nk} = \sum_j \bar Y_{nj} W_{jk}$, and likewise for
# $W$ and $b$ (which every row uses, so their gradients sum over rows):
#
# $$\bar X = \bar Y W, \qquad \bar W = \bar Y^\top X, \qquad \bar b = \textstyle\sum_n \bar Y_{n,:}$$
#
# A quick way to check such a formula: the shapes must work out, e.g. $\bar W$ must be (out, in) and
# $\bar Y^\top X$ is (out, N)(N, in).

# %%
X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
Y, cache = layers.linear_forward(X, W, b)
dY = rng.standard_normal(Y.shape)
dX, dW, db = layers.linear_backward(dY, cache)
print("formulas == layers.linear_backward:",
      np.allclose(dX, dY @ W), np.allclose(dW, dY.T @ X), np.allclose(db, dY.sum(0)))

# %% tags=["check"]
verdict(gradcheck.check_layer(layers.linear_forward, layers.linear_backward, [X, W, b],
                              names=["x", "weight", "bias"], layer="linear"))

# %% [markdown]
# ## 2. Softmax
#
# $p_i = e^{z_i} / \sum_j e^{z_j}$. Its Jacobian is $\partial p_i / \partial z_j = p_i(\delta_{ij} - p_j)$
# (differentiate the quotient: the numerator gives $p_i\delta_{ij}$, the denominator $-p_i p_j$). So
#
# $$\bar z_j = \sum_i \bar p_i\, p_i (\delta_{ij} - p_j) = p_j\Big(\bar p_j - \sum_i \bar p_i p_i\Big)
# \qquad\text{i.e.}\qquad \bar z = p \odot \big(\bar p - \langle \bar p, p\rangle\big)$$
#
# No $T\times T$ Jacobian is ever built: one dot product per row. With $\bar p = 1$,
# $\langle \bar p, p \rangle = 1$ and $\bar z = 0$: the blind spot of section 0.

# %%
Z = rng.standard_normal((3, 7))
P, cache = layers.softmax_forward(Z)
dP = rng.standard_normal(P.shape)
formula = P * (dP - (dP * P).sum(-1, keepdims=True))
print("formula == layers.softmax_backward:", np.allclose(formula, layers.softmax_backward(dP, cache)))

# %% tags=["check"]
verdict(gradcheck.check_layer(layers.softmax_forward, layers.softmax_backward, [Z], names=["x"], layer="softmax"))

# %% [markdown]
# ## 3. LayerNorm
#
# Over the H features of one token: $\mu = \frac1H\sum_i x_i$, $\sigma^2 = \frac1H\sum_i (x_i-\mu)^2$,
# $r = (\sigma^2+\varepsilon)^{-1/2}$, $\hat x_i = (x_i - \mu)\, r$, $y_i = \gamma_i \hat x_i + \beta_i$.
#
# The parameters are easy: $\bar\gamma = \sum_{\text{tokens}} \bar y \odot \hat x$, $\bar\beta = \sum_{\text{tokens}} \bar y$.
# For $x$, let $\bar{\hat x} = \bar y \odot \gamma$. Both $\mu$ and $r$ depend on every $x_j$:
# $\partial\mu/\partial x_j = 1/H$ and $\partial r/\partial x_j = -r^3 (x_j - \mu)/H = -r^2\hat x_j / H$ (the
# $\mu$-term of $\partial\sigma^2/\partial x_j$ vanishes because $\sum_i (x_i-\mu) = 0$). Hence
#
# $$\frac{\partial \hat x_i}{\partial x_j} = r\Big(\delta_{ij} - \frac1H\Big) - (x_i-\mu)\frac{r^2 \hat x_j}{H}
# = r\Big(\delta_{ij} - \frac1H - \frac{\hat x_i \hat x_j}{H}\Big)$$
#
# and summing against $\bar{\hat x}_i$:
#
# $$\bar x = r\Big(\bar{\hat x} - \operatorname{mean}(\bar{\hat x}) - \hat x \odot \operatorname{mean}(\bar{\hat x} \odot \hat x)\Big)$$
#
# Three terms: the direct path, the path through the mean, the path through the variance.

# %%
X = rng.standard_normal((4, 9)) * 3 + 1
gamma, beta = rng.standard_normal(9), rng.standard_normal(9)
Y, cache = layers.layer_norm_forward(X, gamma, beta, 1e-12)
dY = rng.standard_normal(Y.shape)
r = 1 / np.sqrt(X.var(-1, keepdims=True) + 1e-12)
x_hat = (X - X.mean(-1, keepdims=True)) * r
g = dY * gamma
formula = r * (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True))
dX, dgamma, dbeta = layers.layer_norm_backward(dY, cache)
print("formulas == layers.layer_norm_backward:", np.allclose(formula, dX),
      np.allclose((dY * x_hat).sum(0), dgamma), np.allclose(dY.sum(0), dbeta))

# %% tags=["check"]
verdict(gradcheck.check_layer(lambda x, w, b: layers.layer_norm_forward(x, w, b, 1e-12),
                              layers.layer_norm_backward, [X, gamma, beta],
                              names=["x", "weight", "bias"], layer="layer_norm"))

# %% [markdown]
# ## 4. GELU
#
# Exact GELU is $g(x) = x\,\Phi(x)$ with $\Phi(x) = \tfrac12\big(1 + \operatorname{erf}(x/\sqrt2)\big)$ the
# standard normal CDF, whose derivative is the density $\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}$. The product
# rule gives
#
# $$g'(x) = \Phi(x) + x\,\varphi(x), \qquad \bar x = \bar y \odot g'(x)$$
#
# The tanh approximation $g(x) = \tfrac12 x\,(1 + \tanh u)$ with $u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)$ has
#
# $$g'(x) = \tfrac12(1 + \tanh u) + \tfrac12 x\,(1 - \tanh^2 u)\,\sqrt{2/\pi}\,(1 + 3\cdot 0.044715\,x^2)$$
#
# NumPy has no `erf`; numpy_bert implements one (`numpy_bert.special.erf`, W. J. Cody's rational approximations).

# %%
X = rng.standard_normal((3, 11)) * 2
dY = rng.standard_normal(X.shape)
Phi = 0.5 * (1 + erf(X / np.sqrt(2)))
phi = np.exp(-X**2 / 2) / np.sqrt(2 * np.pi)
print("formula == layers.gelu_backward:",
      np.allclose(dY * (Phi + X * phi), layers.gelu_backward(dY, layers.gelu_forward(X)[1])))

# %% tags=["check"]
verdict(gradcheck.check_layer(layers.gelu_forward, layers.gelu_backward, [X], names=["x"], layer="gelu"))
verdict(gradcheck.check_layer(layers.gelu_tanh_forward, layers.gelu_tanh_backward, [X], names=["x"],
                              layer="gelu_tanh"))

# %%
grid = np.linspace(-4, 4, 321)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(grid, layers.gelu_forward(grid)[0], label="GELU  g(x)")
ax.plot(grid, layers.gelu_backward(np.ones_like(grid), layers.gelu_forward(grid)[1]), label="derivative  g'(x)")
ax.axhline(0, color="gray", lw=0.5)
ax.set_xlabel("x")
ax.set_ylabel("value")
ax.set_title("Exact GELU and its derivative")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## 5. Self-attention
#
# For one head (queries $Q$, keys $K$, values $V$, each $T\times HS$; additive mask $M$):
#
# $$S = \frac{QK^\top}{\sqrt{HS}} + M, \qquad P = \operatorname{softmax}_{\text{rows}}(S), \qquad C = PV$$
#
# Going backwards, one line per forward line (each a matrix product rule or the softmax rule above):
#
# $$\bar V = P^\top \bar C, \qquad \bar P = \bar C V^\top, \qquad
# \bar S = P \odot \big(\bar P - \operatorname{rowsum}(\bar P \odot P)\big), \qquad
# \bar Q = \frac{\bar S K}{\sqrt{HS}}, \qquad \bar K = \frac{\bar S^\top Q}{\sqrt{HS}}$$
#
# The mask is a constant, so it receives nothing; a padded key has $P = 0$ in every row, hence
# $\bar S = 0$ in its column and its value gets $\bar V = P^\top \bar C = 0$: padding does not leak into the
# gradients. Finally $Q$, $K$, $V$ are three linear layers of the *same* input $x$, so
# $\bar x = \bar Q W_q + \bar K W_k + \bar V W_v$ (a variable used three times sums its three gradients).
#
# One curiosity: the gradient of the key bias $b_k$ is exactly zero. It adds $q_t \cdot b_k$ to every
# score of query $t$, the same for all keys, and softmax ignores such a shift. `check_layer` measures that
# tensor's error relative to the layer's other gradients (`zero_grad`), since there is nothing else to
# be relative to.

# %%
B, T, H, NH = 2, 5, 12, 3
X = rng.standard_normal((B, T, H))
weights = [rng.standard_normal((H, H)) * 0.5 if i % 2 == 0 else rng.standard_normal(H) for i in range(6)]
attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])   # the second sequence is padded
mask = layers.additive_attention_mask(attention_mask, np.float64)  # (B, 1, 1, T)


def attention(x, qw, qb, kw, kb, vw, vb):
    return layers.self_attention_forward(x, qw, qb, kw, kb, vw, vb, mask, NH)


context, cache = attention(X, *weights)
dcontext = rng.standard_normal(context.shape)
grads = layers.self_attention_backward(dcontext, cache)
print("context", context.shape, " probs", cache["probs"].shape, " dx", grads[0].shape)
print("largest |d key bias|:", f"{np.abs(grads[4]).max():.0e}", " (zero up to rounding)")
# padding leaks nothing: changing the padded tokens' inputs leaves the real positions' outputs unchanged
X2 = X.copy()
X2[1, 3:] = rng.standard_normal((2, H))
print("real positions unchanged when the padded inputs change:",
      np.allclose(attention(X2, *weights)[0][1, :3], context[1, :3], rtol=0, atol=1e-12))

# %% tags=["check"]
verdict(gradcheck.check_layer(attention, layers.self_attention_backward, [X, *weights],
                              names=["x", "q_weight", "q_bias", "k_weight", "k_bias", "v_weight", "v_bias"],
                              layer="self_attention", zero_grad=(4,)))

# %% [markdown]
# ## 6. Cross-entropy
#
# For logits $z \in \mathbb{R}^{N\times C}$ and labels $y$, with the rows whose label is `-100` ignored
# and $n$ rows kept:
#
# $$\mathcal{L} = \frac1n\sum_{\text{kept } i}\Big(\log\sum_c e^{z_{ic}} - z_{i y_i}\Big),
# \qquad \bar z_i = \frac{\bar{\mathcal{L}}}{n}\big(\operatorname{softmax}(z_i) - \operatorname{onehot}(y_i)\big)$$
#
# and $\bar z_i = 0$ for ignored rows: the derivative of log-sum-exp is the softmax, the derivative of
# $-z_{iy_i}$ is minus the one-hot vector. That is why the MLM head only needs logits at the masked
# positions.

# %%
N, C = 8, 11
logits = rng.standard_normal((N, C)) * 2
labels = rng.integers(0, C, size=N)
labels[::3] = -100                                    # ignored rows
loss, cache = layers.cross_entropy_forward(logits, labels)
kept = labels != -100
softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
onehot = np.eye(C)[np.where(kept, labels, 0)]
formula = np.where(kept[:, None], softmax - onehot, 0) / kept.sum()
print(f"loss = {loss:.4f}")
print("formula == layers.cross_entropy_backward:", np.allclose(formula, layers.cross_entropy_backward(1.0, cache)))

# %% tags=["check"]
verdict(gradcheck.check_layer(layers.cross_entropy_forward, layers.cross_entropy_backward, [logits, labels],
                              names=["logits", "labels"], wrt=[0], layer="cross_entropy"))

# %% [markdown]
# The same checks for every layer of numpy_bert, at small odd sizes, are one command away:
# `numpy-bert gradcheck` prints this table (a teacher can run it in class).

# %%
print(gradcheck.format_report(gradcheck.run_layer_checks()))

# %% [markdown]
# ## 7. The whole model
#
# `BertForPreTraining.loss_and_grads` chains all these backwards in exact reverse order of the forward:
# the NSP head, the pooler, the MLM head (only at the masked positions), then the layers from the last to
# the first, then the embeddings. The tied MLM decoder receives gradient twice: from the embedding lookup
# and from the decoder, accumulated with `+=` into the same tensor.
#
# We take the odd-sized random model of notebook 02 (float64, dropout off) with a batch whose MLM labels
# are `-100` almost everywhere, and check the gradient of **every parameter tensor** twice:
#
# - against finite differences of the loss (a few sampled entries per tensor), and
# - against PyTorch autograd's gradient for the same weights and batch (a committed fixture written by
#   `tests/reference/make_model_fixtures.py`), relative to the tensor's largest entry.
#
# The step is $h = 10^{-4}$ here, larger than for single layers. The query and key gradients of this
# model are tiny (about $10^{-5}$: its attention is close to uniform), and the rounding error of a
# difference of two losses, about $10^{-16}\,\mathcal{L}/h$, must stay well below them.

# %%
FIXTURES = Path("..") / "tests" / "fixtures" / "model"
meta = json.loads((FIXTURES / "gelu.json").read_text())
fixture = np.load(FIXTURES / "gelu.npz", allow_pickle=False)
model = BertForPreTraining(BertConfig(**meta["config"]), dtype=np.float64, layers="reference")
for name in model.params:
    model.params[name][...] = fixture["param/" + name]
batch = {k: fixture[k] for k in ("input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label")}
print("labels (-100 = not predicted):\n", batch["labels"])
loss, grads = model.loss_and_grads(**batch)
print(f"loss = {loss:.6f}  (PyTorch: {float(fixture['f64/loss']):.6f})")

# %%
check_rng = np.random.default_rng(1)
largest = max(np.abs(g).max() for g in grads.values())
errors_fd, errors_torch, zero_in_theory = {}, {}, []
for name, param in model.params.items():
    idx = check_rng.choice(param.size, size=min(6, param.size), replace=False)
    numeric = gradcheck.numerical_gradient(lambda: model.loss_and_grads(**batch)[0], param, idx, 1.0, h=1e-4)
    analytic = grads[name].reshape(-1)[idx]
    if name.endswith("attention.self.key.bias"):     # zero in exact arithmetic (section 5)
        zero_in_theory.append(name)
        errors_fd[name] = np.abs(analytic - numeric).max() / largest
    else:
        errors_fd[name] = gradcheck.relative_error(analytic, numeric)
    reference = fixture["f64/grad/" + name]
    scale = largest if name in zero_in_theory else np.abs(reference).max()
    errors_torch[name] = np.abs(grads[name] - reference).max() / scale
print(f"{len(errors_fd)} parameter tensors checked; key biases measured against the largest gradient entry")

# %% tags=["check"]
print("every tensor within 1e-6 of finite differences:", max(errors_fd.values()) <= 1e-6)
print("every tensor within 1e-9 of PyTorch autograd:", max(errors_torch.values()) <= 1e-9)
print("parameter tensors whose gradient is exactly zero:", [n for n, g in grads.items() if not np.any(g)] or "none",
      "(the key biases' is rounding noise)")

# %%
names = list(model.params)
short = [n.replace("bert.", "").replace("encoder.layer.", "L").replace("attention.", "att.")
         .replace(".weight", ".w").replace(".bias", ".b") for n in names]
fig, ax = plt.subplots(figsize=(12, 5))
positions = np.arange(len(names))
floor = 1e-18                                         # an error of exactly 0 is drawn here
ax.semilogy(positions, [max(errors_fd[n], floor) for n in names], "o", label="vs finite differences (sampled entries)")
ax.semilogy(positions, [max(errors_torch[n], floor) for n in names], "s", mfc="none", label="vs PyTorch autograd (fixture)")
zero = [i for i, n in enumerate(names) if n in zero_in_theory]
ax.semilogy(zero, [floor] * len(zero), "kx", ms=9, label="key bias: gradient 0 in exact arithmetic")
ax.axhline(1e-6, color="C3", ls="--", lw=1, label="finite-difference tolerance 1e-6")
ax.set_ylim(floor / 10, 1e-2)
ax.set_xticks(positions, short, rotation=90, fontsize=7)
ax.set_xlabel("parameter tensor")
ax.set_ylabel("relative error (log scale)")
ax.set_title("Gradient of every parameter of a 2-layer BERT (float64): hand-written backward vs two references")
ax.legend(fontsize=8, loc="upper center", ncol=4)
ax.grid(alpha=0.3, axis="y")
fig.tight_layout()
plt.show()
checked = [errors_fd[n] for n in names if n not in zero_in_theory]
print(f"vs finite differences: relative errors from {min(checked):.0e} to {max(checked):.0e}")
print(f"vs PyTorch autograd:   relative errors up to {max(errors_torch.values()):.0e}")

# %% [markdown]
# **Reading the plot.** Against finite differences the errors sit in the range printed under the plot:
# that is the accuracy of the finite differences themselves (truncation $O(h^2)$ plus rounding
# $O(\epsilon/h)$, as in section 0's step-size plot, worst for the tiny query and key gradients), not of
# the backward. Against autograd, which computes the same formulas in a different order, the
# errors are at the level of float64 rounding. The key biases (crosses) have an error of exactly 0
# or of rounding size relative to the model's largest gradient, as section 5 predicts. A single wrong sign or missing `+=` anywhere would put a
# point near $10^{0}$.
#
# Next: notebook 04 uses these gradients to pretrain a small BERT; notebook 06 asks you to write four of
# these backward functions yourself.
