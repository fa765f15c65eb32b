"""BERT in NumPy: the model, forward and backward, composed from layer functions.

The functions below take the namespace of layers they compose as their first argument:
``numpy_bert.fast`` (the default of the model classes) or ``numpy_bert.layers``, the
reference to read (``BertModel(config, layers="reference")``); both have the same
functions and compute the same numbers within float rounding.

Dimension key (used in every shape comment below):
    B   batch size                     T   tokens per sequence
    H   hidden size (768)              NH  attention heads (12)
    HS  head size, H / NH (64)         I   intermediate size (3072)
    V   vocabulary size                L   number of encoder layers (12)
    M   masked positions: entries of ``labels`` that are not -100
    N   labels of a classifier (config.num_labels)     C   choices (multiple choice)

The computation, exactly as HuggingFace's ``BertForPreTraining`` (post-LN BERT):

    embeddings   e  = LayerNorm(word[input_ids] + position[0..T-1] + token_type[token_type_ids])
                 x0 = dropout(e)
    layer l      a  = LayerNorm(x + dropout(dense(self_attention(x, mask))))
                 x' = LayerNorm(a + dropout(dense_2(act(dense_1(a)))))
    pooler       p  = tanh(dense(x_L[:, 0]))                       (the [CLS] token)
    MLM head     logits = LayerNorm(act(dense(x_L))) @ word.T + cls.predictions.bias
    NSP head     seq_relationship = dense(p)                       (0 = IsNext, 1 = NotNext)

The fine-tuning heads (HF's classes of the same names) are one linear layer each:

    BertForSequenceClassification   logits = classifier(dropout(p))        (B, N)
    BertForMultipleChoice           logits = classifier(dropout(p))        (B*C, 1) -> (B, C)
    BertForTokenClassification      logits = classifier(dropout(x_L))      (B, T, N)
    BertForQuestionAnswering        start, end = qa_outputs(x_L)           (B, T) each
    BertForNextSentencePrediction   logits = cls.seq_relationship(p)       (B, 2)
    BertForMaskedLM                 the MLM head above, without pooler and NSP

with N = config.num_labels; their backward is one: classifier_backward, then the pooler's
(only the [CLS] row of x_L feeds p) or straight into the encoder's.

Parameters live in one flat dict keyed by HF's ``named_parameters()`` names, in HF's
(out, in) layout: ``bert.encoder.layer.3.attention.self.query.weight`` is (H, H). The MLM
decoder weight *is* ``bert.embeddings.word_embeddings.weight`` (tied): it is stored once,
and its gradient receives both contributions (the embedding lookup and the decoder).

    >>> m = BertForPreTraining(BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=2,
    ...                                   num_attention_heads=3, intermediate_size=37))
    >>> out = m(np.array([[5, 17, 3, 9]]))
    >>> out["prediction_logits"].shape, out["seq_relationship_logits"].shape
    ((1, 4, 99), (1, 2))
"""

import os
import warnings

import numpy as np

from numpy_bert import fast, weights
from numpy_bert import layers as reference_layers
from numpy_bert.config import BertConfig

IGNORE_INDEX = -100   # label value that the MLM loss skips (HF / PyTorch convention)


# ----------------------------------------------------------------------------- checks

def _as_int_array(x, name):
    """``x`` as an integer ndarray, or TypeError saying what was passed."""
    array = np.asarray(x)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers (token ids / labels), got dtype {array.dtype}; "
                        f"convert with np.asarray({name}, dtype=np.int64)")
    return array


def _check_inputs_embeds(config, inputs_embeds, dtype):
    """inputs_embeds (B, T, H) as a float array of the model's dtype, or an error."""
    embeds = np.asarray(inputs_embeds)
    if embeds.dtype.kind != "f":
        raise TypeError(f"inputs_embeds must hold floats (vectors in place of the word embeddings), "
                        f"got dtype {embeds.dtype}")
    H = config.hidden_size
    if embeds.ndim != 3 or 0 in embeds.shape[:2] or embeds.shape[2] != H:
        raise ValueError(f"inputs_embeds must be a non-empty (B, T, H={H}) array, got shape "
                         f"{embeds.shape}; for a single sequence pass embeds[None]")
    if not np.all(np.isfinite(embeds)):
        raise ValueError("inputs_embeds must be finite (no NaN or inf)")
    return np.asarray(embeds, dtype=dtype)


def _check_inputs(config, input_ids, token_type_ids, attention_mask, inputs_embeds=None, dtype=None):
    """Validate the forward's inputs; returns them as arrays (defaults filled in).

    Exactly one of input_ids (B, T) and inputs_embeds (B, T, H) is given, as in HF; the
    first array returned is then the ids, or the embeddings cast to ``dtype`` (which
    embeddings_forward tells apart by their dtype)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids (B, T) and inputs_embeds (B, T, H), "
                         "as transformers does")
    if inputs_embeds is not None:
        inputs_embeds = _check_inputs_embeds(config, inputs_embeds, dtype or np.float32)
        B, T = inputs_embeds.shape[:2]
    else:
        input_ids = _as_int_array(input_ids, "input_ids")
        if input_ids.ndim != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
            raise ValueError(f"input_ids must be a non-empty 2-D array (B, T) of token ids, got shape "
                             f"{input_ids.shape}; for a single sequence pass ids[None, :]")
        B, T = input_ids.shape
    if T > config.max_position_embeddings:
        raise ValueError(f"sequence length {T} exceeds max_position_embeddings="
                         f"{config.max_position_embeddings}; truncate the input (e.g. the "
                         f"tokenizer's truncation=True, max_length={config.max_position_embeddings})")
    if input_ids is not None:
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= config.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"input_ids contains token id {bad}, outside the vocabulary "
                             f"[0, {config.vocab_size}); was it tokenized with this model's vocab.txt?")

    if token_type_ids is None:
        token_type_ids = np.zeros((B, T), dtype=np.int64)   # one segment: all type 0
    token_type_ids = _as_int_array(token_type_ids, "token_type_ids")
    if token_type_ids.shape != (B, T):
        raise ValueError(f"token_type_ids has shape {token_type_ids.shape} but input_ids has "
                         f"shape {(B, T)}; they must match")
    if token_type_ids.min() < 0 or token_type_ids.max() >= config.type_vocab_size:
        raise ValueError(f"token_type_ids must be in [0, type_vocab_size={config.type_vocab_size}), "
                         f"got values {int(token_type_ids.min())}..{int(token_type_ids.max())}")

    if attention_mask is None:
        attention_mask = np.ones((B, T), dtype=np.int64)     # every token is real
    attention_mask = np.asarray(attention_mask)
    if attention_mask.shape != (B, T):
        raise ValueError(f"attention_mask has shape {attention_mask.shape} but input_ids has "
                         f"shape {(B, T)}; they must match")
    if attention_mask.dtype.kind not in "biuf":
        raise TypeError(f"attention_mask must be numeric 0/1 (1 = real token, 0 = padding), "
                        f"got dtype {attention_mask.dtype}")
    if not np.all((attention_mask == 0) | (attention_mask == 1)):
        raise ValueError("attention_mask must hold only 0 (padding) and 1 (real token)")
    if inputs_embeds is not None:
        return inputs_embeds, token_type_ids, attention_mask
    return input_ids, token_type_ids, attention_mask


def _check_head_mask(config, head_mask, dtype):
    """HF's head_mask, (NH,) for every layer or (L, NH) one row per layer, as an (L, NH)
    array of the model's dtype; None stays None (every head on)."""
    if head_mask is None:
        return None
    mask = np.asarray(head_mask)
    L, NH = config.num_hidden_layers, config.num_attention_heads
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"head_mask must be numbers (1 keeps a head, 0 switches it off), got dtype {mask.dtype}")
    if mask.shape not in ((NH,), (L, NH)):
        raise ValueError(f"head_mask must have shape (num_attention_heads,) = ({NH},) or "
                         f"(num_hidden_layers, num_attention_heads) = ({L}, {NH}), got {mask.shape}")
    if not np.all(np.isfinite(mask)):
        raise ValueError("head_mask must be finite")
    return np.broadcast_to(mask, (L, NH)).astype(dtype)                           # (L, NH)


def _check_labels(config, labels, next_sentence_label, B, T):
    if labels is None and next_sentence_label is None:
        raise ValueError("loss_and_grads needs labels (MLM), next_sentence_label (NSP), or both")
    if labels is not None:
        labels = _as_int_array(labels, "labels")
        if labels.shape != (B, T):
            raise ValueError(f"labels has shape {labels.shape} but input_ids has shape {(B, T)}; "
                             f"use -100 at positions that are not predicted")
        bad = labels[(labels != IGNORE_INDEX) & ((labels < 0) | (labels >= config.vocab_size))]
        if bad.size:
            raise ValueError(f"labels must be token ids in [0, {config.vocab_size}) or -100 "
                             f"(ignored), got {int(bad[0])}")
    if next_sentence_label is not None:
        next_sentence_label = _as_int_array(next_sentence_label, "next_sentence_label")
        if next_sentence_label.shape != (B,):
            raise ValueError(f"next_sentence_label must have shape (B,) = {(B,)}, got "
                             f"{next_sentence_label.shape}")
        if not np.all((next_sentence_label == 0) | (next_sentence_label == 1)):
            raise ValueError("next_sentence_label must be 0 (IsNext) or 1 (NotNext), got "
                             f"{np.unique(next_sentence_label).tolist()}")
    return labels, next_sentence_label


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype}")
    return dtype


# ----------------------------------------------------------------------------- init

def init_params(config, architecture, seed=0, dtype=np.float32, names=None):
    """HF's initialisation: weights ~ N(0, initializer_range), biases 0, LayerNorm 1 / 0.

    The padding row of the word embeddings is zero (as ``nn.Embedding(padding_idx=...)``
    is initialised by HF), and ``cls.predictions.bias`` starts at 0. Returns a dict in
    ``named_parameters()`` order. The weights are drawn from ``np.random.default_rng(seed)``
    one tensor after the other in that order; ``names`` (default: all) restricts the dict,
    and the draws, to those tensors: from_pretrained initialises only the missing head.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    std = config.initializer_range
    params = {}
    for name, shape in weights.expected_shapes(config, architecture).items():
        if names is not None and name not in names:
            continue
        if name.endswith("LayerNorm.weight"):
            params[name] = np.ones(shape, dtype=dtype)
        elif name.endswith("bias"):
            params[name] = np.zeros(shape, dtype=dtype)
        else:   # Linear weights (out, in) and embedding tables (rows, H)
            params[name] = rng.standard_normal(shape, dtype=dtype) * dtype.type(std)
    word = weights.encoder_prefix(architecture) + "embeddings.word_embeddings.weight"
    if config.pad_token_id is not None and word in params:
        params[word][config.pad_token_id] = 0.0
    return params


# ----------------------------------------------------------------------------- encoder

def embeddings_forward(layers, params, prefix, config, input_ids, token_type_ids, rng, training):
    """e = dropout(LayerNorm(word[input_ids] + position[:T] + token_type[token_type_ids])).

    ``input_ids`` may instead be float vectors (B, T, H), HF's ``inputs_embeds``: they
    take the place of word[input_ids] (the backward then gives the word table nothing).
    """
    P = lambda name: params[prefix + "embeddings." + name]
    T = input_ids.shape[1]
    if input_ids.dtype.kind == "f":                                                 # inputs_embeds
        word, c_word = input_ids, None                                              # (B, T, H)
    else:
        word, c_word = layers.embedding_forward(input_ids, P("word_embeddings.weight"),
                                                padding_idx=config.pad_token_id)    # (B, T, H)
    types, c_type = layers.embedding_forward(token_type_ids, P("token_type_embeddings.weight"))  # (B, T, H)
    position = P("position_embeddings.weight")[:T]                                  # (T, H)
    e = word + position + types                                                     # (B, T, H)
    del word, types
    e, c_ln = layers.layer_norm_forward(e, P("LayerNorm.weight"), P("LayerNorm.bias"),
                                        config.layer_norm_eps)                      # (B, T, H)
    e, c_drop = layers.dropout_forward(e, config.hidden_dropout_prob, rng, training)  # (B, T, H)
    return e, {"word_embeddings": c_word, "token_type_embeddings": c_type, "layer_norm": c_ln,
               "dropout": c_drop, "T": T}


def embeddings_backward(layers, de, cache, grads, prefix):
    """Unwind embeddings_forward; accumulates into grads[prefix + "embeddings.*"]. Returns
    the gradient at word[input_ids] (B, T, H): that of inputs_embeds, when they were given."""
    G = prefix + "embeddings."
    de = layers.dropout_backward(de, cache["dropout"])                              # (B, T, H)
    dsum, dw, db = layers.layer_norm_backward(de, cache["layer_norm"])              # (B, T, H)
    grads[G + "LayerNorm.weight"] += dw
    grads[G + "LayerNorm.bias"] += db
    # e = word + position + types: each term receives dsum unchanged
    grads[G + "position_embeddings.weight"][:cache["T"]] += dsum.sum(axis=0)        # (T, H)
    grads[G + "token_type_embeddings.weight"] += layers.embedding_backward(dsum, cache["token_type_embeddings"])
    if cache["word_embeddings"] is not None:                                        # not inputs_embeds
        grads[G + "word_embeddings.weight"] += layers.embedding_backward(dsum, cache["word_embeddings"])
    return dsum


# HF's BertSelfOutput ("attention.output") and BertOutput ("output") are one block:
#     y = LayerNorm(residual + dropout(dense(h)))
# with its caches under these names in the layer's cache (dense, dropout, LayerNorm).
OUTPUT_BLOCK_CACHES = {"attention.output": ("attention_output", "attention_dropout", "attention_layer_norm"),
                       "output": ("output", "output_dropout", "output_layer_norm")}


def output_block_forward(layers, params, prefix, module, config, h, residual, rng, training):
    """``y = LayerNorm(residual + dropout(module.dense(h)))`` for module "attention.output"
    (h = the attention's context, residual = the layer's input x) or "output" (h = the
    activation i, residual = a). Returns y (B, T, H) and its caches, keyed as
    OUTPUT_BLOCK_CACHES says."""
    P = lambda name: params[prefix + module + name]
    dense, dropout, norm = OUTPUT_BLOCK_CACHES[module]
    s, c_dense = layers.linear_forward(h, P(".dense.weight"), P(".dense.bias"))     # (B, T, H)
    s, c_drop = layers.dropout_forward(s, config.hidden_dropout_prob, rng, training)  # (B, T, H)
    s += residual                                                                   # residual
    y, c_norm = layers.layer_norm_forward(s, P(".LayerNorm.weight"), P(".LayerNorm.bias"),
                                          config.layer_norm_eps)                    # (B, T, H)
    return y, {dense: c_dense, dropout: c_drop, norm: c_norm}


def output_block_backward(layers, dy, cache, grads, prefix, module, record):
    """Backward of output_block_forward: returns (dh, dresidual); adds the dense and
    LayerNorm gradients to ``grads``; ``record(name, grad)`` receives the gradients at
    module + ".LayerNorm.input" and module + ".dense" (see LAYER_ACTIVATIONS)."""
    dense, dropout, norm = OUTPUT_BLOCK_CACHES[module]
    G = prefix + module
    # y = LayerNorm(s)
    ds, dw, db = layers.layer_norm_backward(dy, cache[norm])                        # (B, T, H)
    grads[G + ".LayerNorm.weight"] += dw
    grads[G + ".LayerNorm.bias"] += db
    record(module + ".LayerNorm.input", ds)
    # s += residual: the residual receives ds unchanged; the branch gets ds too
    dbranch = layers.dropout_backward(ds, cache[dropout])                           # (B, T, H)
    record(module + ".dense", dbranch)
    # s = dense(h)
    dh, dw, db = layers.linear_backward(dbranch, cache[dense])                      # (B, T, in)
    grads[G + ".dense.weight"] += dw
    grads[G + ".dense.bias"] += db
    return dh, ds


def encoder_layer_forward(layers, params, prefix, config, x, mask, rng, training, keep_caches=False,
                          head_mask=None):
    """One post-LN transformer layer; prefix is e.g. "bert.encoder.layer.3.".

        a  = LayerNorm(x + dropout(attention.output.dense(self_attention(x))))
        x' = LayerNorm(a + dropout(output.dense(act(intermediate.dense(a)))))

    ``head_mask`` (NH,), or None, scales each head's attention probabilities (HF's).

    The cache holds only the sub-layers' caches, each keeping what its backward needs
    (``keep_caches``: a backward follows, so the fast GELU keeps its derivative instead of
    its input); the residual sums store nothing, since their backward just passes the
    gradient on. Intermediate results are dropped (``del``) as soon as they are used.
    """
    P = lambda name: params[prefix + name]
    ctx, c_att = layers.self_attention_forward(
        x, P("attention.self.query.weight"), P("attention.self.query.bias"),
        P("attention.self.key.weight"), P("attention.self.key.bias"),
        P("attention.self.value.weight"), P("attention.self.value.bias"),
        mask, config.num_attention_heads, dropout_p=config.attention_probs_dropout_prob,
        rng=rng, training=training,
        **({} if head_mask is None else {"head_mask": head_mask}))                  # (B, T, H)
    a, c_attention_output = output_block_forward(layers, params, prefix, "attention.output", config, ctx, x,
                                                 rng, training)                     # (B, T, H)
    del ctx
    i, c_int = layers.linear_forward(a, P("intermediate.dense.weight"),
                                     P("intermediate.dense.bias"))                   # (B, T, I)
    i, c_act = layers.activation_forward(i, config.hidden_act, keep_caches)         # (B, T, I)
    y, c_output = output_block_forward(layers, params, prefix, "output", config, i, a, rng, training)  # (B, T, H)
    cache = {"self_attention": c_att, **c_attention_output, "intermediate": c_int, "activation": c_act,
             **c_output}
    return y, cache


# The activations whose gradients encoder_layer_backward can report, named as the HF
# module that outputs them (what a forward hook on that module would see), plus the
# attention's inside ("attention.scores" before the softmax, mask added; "attention.probs"
# after it) and each LayerNorm's input (the residual sum):
#
#   attention.scores, attention.probs (B, NH, T, T)   attention.context (B, T, H): merged heads
#   attention.output.dense    (B, T, H)   the attention branch, before dropout
#   attention.output.LayerNorm.input      x + dropout(branch)
#   attention.output          (B, T, H)   a, the residual stream between attention and FFN
#   intermediate.dense        (B, T, I)   before the activation;  intermediate: after it
#   output.dense              (B, T, H)   the FFN branch, before dropout
#   output.LayerNorm.input                a + dropout(branch)
#   output                    (B, T, H)   x', the layer's output (the next layer's input)
LAYER_ACTIVATIONS = ("attention.scores", "attention.probs", "attention.context", "attention.output.dense",
                     "attention.output.LayerNorm.input", "attention.output", "intermediate.dense",
                     "intermediate", "output.dense", "output.LayerNorm.input", "output")


def encoder_layer_backward(layers, dy, cache, grads, prefix, activation_grads=None):
    """Unwind encoder_layer_forward in exact reverse order; returns dx (B, T, H).

    ``activation_grads``, a dict, receives the gradient at each of LAYER_ACTIVATIONS
    (keys prefix + name) and the head mask's "head_mask" (NH,) (key prefix + "head_mask")."""
    def add(module, dweight, dbias):                # e.g. "output.dense": its .weight and .bias
        grads[prefix + module + ".weight"] += dweight
        grads[prefix + module + ".bias"] += dbias

    def record(name, grad):                         # the gradient at an activation, if asked
        if activation_grads is not None:
            activation_grads[prefix + name] = grad.copy()

    record("output", dy)
    # x' = LayerNorm(a + dropout(output.dense(i)))
    di, ds = output_block_backward(layers, dy, cache, grads, prefix, "output", record)  # (B, T, I), (B, T, H)
    record("intermediate", di)
    # i = act(intermediate.dense(a))
    di = layers.activation_backward(di, cache["activation"])                        # (B, T, I)
    record("intermediate.dense", di)
    da, dw, db = layers.linear_backward(di, cache["intermediate"])                  # (B, T, H)
    add("intermediate.dense", dw, db)
    del di
    da += ds                                                                        # residual
    record("attention.output", da)
    # a = LayerNorm(x + dropout(attention.output.dense(ctx)))
    dctx, dh = output_block_backward(layers, da, cache, grads, prefix, "attention.output", record)  # (B, T, H) each
    record("attention.context", dctx)
    # ctx = self_attention(x)
    inside = {} if activation_grads is not None else None   # scores, probs, head_mask
    asked = () if inside is None else (inside,)            # (a namespace of one's own may not take it)
    dx, dqw, dqb, dkw, dkb, dvw, dvb = layers.self_attention_backward(dctx, cache["self_attention"], *asked)  # (B, T, H)
    if inside is not None:
        for name in ("scores", "probs"):
            record("attention." + name, inside[name])
        activation_grads[prefix + "head_mask"] = inside["head_mask"]
    add("attention.self.query", dqw, dqb)
    add("attention.self.key", dkw, dkb)
    add("attention.self.value", dvw, dvb)
    dx += dh                                                                        # residual
    return dx


def bert_forward(layers, params, prefix, config, input_ids, token_type_ids, attention_mask, rng,
                 training, keep_caches=False, output_hidden_states=False, output_attentions=False,
                 head_mask=None):
    """Embeddings + L encoder layers. Returns (sequence_output (B, T, H), extras, caches).

    input_ids are token ids (B, T) or HF's inputs_embeds (B, T, H) (embeddings_forward);
    head_mask is None or (L, NH), row l for layer l. extras holds "hidden_states" /
    "attentions" when asked for (with a head mask, HF's attentions are the probabilities
    times it); caches (a list: the embeddings' cache, then one per layer) is None unless
    keep_caches.
    """
    mask = layers.additive_attention_mask(attention_mask, params[prefix + "embeddings.LayerNorm.weight"].dtype)  # (B, 1, 1, T)
    x, c_emb = embeddings_forward(layers, params, prefix, config, input_ids, token_type_ids, rng, training)
    caches = [c_emb] if keep_caches else None
    hidden_states = [x] if output_hidden_states else None
    attentions = [] if output_attentions else None
    for l in range(config.num_hidden_layers):
        layer_head_mask = None if head_mask is None else head_mask[l]              # (NH,)
        x, c_layer = encoder_layer_forward(layers, params, f"{prefix}encoder.layer.{l}.", config, x,
                                           mask, rng, training, keep_caches, layer_head_mask)  # (B, T, H)
        if output_hidden_states:
            hidden_states.append(x)
        if output_attentions:
            probs = c_layer["self_attention"]["probs"]                              # (B, NH, T, T)
            attentions.append(probs if head_mask is None else probs * layer_head_mask[:, None, None])
        if keep_caches:
            caches.append(c_layer)
    extras = {}
    if output_hidden_states:
        extras["hidden_states"] = hidden_states
    if output_attentions:
        extras["attentions"] = attentions
    return x, extras, caches


def bert_backward(layers, dx, caches, grads, prefix, config, activation_grads=None):
    """Unwind bert_forward: layers L-1 .. 0, then the embeddings. Frees caches as it goes.

    Returns the gradient at word[input_ids] (inputs_embeds) (B, T, H). ``activation_grads``,
    a dict, receives every layer's (encoder_layer_backward), the embedding output's
    (prefix + "embeddings") and that of the embeddings' LayerNorm input (prefix +
    "embeddings.LayerNorm.input", before dropout and LayerNorm)."""
    for l in reversed(range(config.num_hidden_layers)):
        dx = encoder_layer_backward(layers, dx, caches.pop(), grads, f"{prefix}encoder.layer.{l}.",
                                    activation_grads)                               # (B, T, H)
    if activation_grads is not None:
        activation_grads[prefix + "embeddings"] = dx.copy()
    dwords = embeddings_backward(layers, dx, caches.pop(), grads, prefix)           # (B, T, H)
    if activation_grads is not None:
        activation_grads[prefix + "embeddings.LayerNorm.input"] = dwords.copy()
    return dwords


def inspection_grads(activation_grads, dwords, prefix, config, head_mask_ndim, input_shape,
                     return_input_grads, return_activation_grads):
    """The gradients that loss_and_grads adds to its grads when asked, from what
    bert_backward put in ``activation_grads`` (which it empties) and returned (dwords):

    - return_input_grads: "inputs_embeds" (the gradient at word[input_ids], or at the
      inputs_embeds given) and "embedding_output" (at the embeddings' output), both
      ``input_shape + (H,)``, and "head_mask": (L, NH), or (NH,) when the head mask
      given was (NH,) (one mask for every layer: the layers' gradients add up); at all
      ones when none was given;
    - return_activation_grads: every activation's gradient, under the names of
      bert_backward (e.g. "bert.encoder.layer.1.attention.probs").
    """
    L, H = config.num_hidden_layers, config.hidden_size
    dhead = np.stack([activation_grads.pop(f"{prefix}encoder.layer.{l}.head_mask") for l in range(L)])  # (L, NH)
    out = {}
    if return_input_grads:
        out["inputs_embeds"] = dwords.reshape(input_shape + (H,))
        out["embedding_output"] = activation_grads[prefix + "embeddings"].reshape(input_shape + (H,))
        out["head_mask"] = dhead.sum(axis=0) if head_mask_ndim == 1 else dhead
    if return_activation_grads:
        out.update(activation_grads)
    activation_grads.clear()
    return out


def pooler_forward(layers, params, prefix, sequence_output):
    """pooled = tanh(pooler.dense(x[:, 0])): the [CLS] token's vector."""
    cls = sequence_output[:, 0]                                                     # (B, H)
    z, c_dense = layers.linear_forward(cls, params[prefix + "pooler.dense.weight"],
                                       params[prefix + "pooler.dense.bias"])         # (B, H)
    pooled, c_tanh = layers.tanh_forward(z)                                         # (B, H)
    return pooled, {"dense": c_dense, "tanh": c_tanh}


def pooler_backward(layers, dpooled, cache, grads, prefix):
    """Returns d(x[:, 0]) (B, H)."""
    dz = layers.tanh_backward(dpooled, cache["tanh"])                               # (B, H)
    dcls, dw, db = layers.linear_backward(dz, cache["dense"])                       # (B, H)
    grads[prefix + "pooler.dense.weight"] += dw
    grads[prefix + "pooler.dense.bias"] += db
    return dcls


# ----------------------------------------------------------------------------- heads

def mlm_head_forward(layers, params, config, h, keep_caches=False):
    """logits = LayerNorm(act(transform.dense(h))) @ word_embeddings.T + cls.predictions.bias.

    h is (..., H): the whole sequence output (B, T, H) for prediction_logits, or only the
    M masked rows (M, H) in loss_and_grads. ``keep_caches``: a backward will follow.
    """
    P = lambda name: params["cls.predictions." + name]
    t, c_dense = layers.linear_forward(h, P("transform.dense.weight"), P("transform.dense.bias"))  # (..., H)
    t, c_act = layers.activation_forward(t, config.hidden_act, keep_caches)         # (..., H)
    t, c_ln = layers.layer_norm_forward(t, P("transform.LayerNorm.weight"),
                                        P("transform.LayerNorm.bias"), config.layer_norm_eps)  # (..., H)
    # the decoder is tied: its weight is the (V, H) word embedding matrix
    logits, c_dec = layers.linear_forward(t, params["bert.embeddings.word_embeddings.weight"],
                                          P("bias"))                                # (..., V)
    return logits, {"transform_dense": c_dense, "activation": c_act, "layer_norm": c_ln, "decoder": c_dec}


def mlm_head_backward(layers, dlogits, cache, grads):
    """Returns dh; the decoder's weight gradient adds into the word embeddings (tied)."""
    dt, dw, db = layers.linear_backward(dlogits, cache["decoder"])                  # (M, H)
    grads["bert.embeddings.word_embeddings.weight"] += dw                           # (V, H)
    grads["cls.predictions.bias"] += db                                             # (V,)
    dt, dw, db = layers.layer_norm_backward(dt, cache["layer_norm"])                # (M, H)
    grads["cls.predictions.transform.LayerNorm.weight"] += dw
    grads["cls.predictions.transform.LayerNorm.bias"] += db
    dt = layers.activation_backward(dt, cache["activation"])                        # (M, H)
    dh, dw, db = layers.linear_backward(dt, cache["transform_dense"])               # (M, H)
    grads["cls.predictions.transform.dense.weight"] += dw
    grads["cls.predictions.transform.dense.bias"] += db
    return dh


def nsp_head_forward(layers, params, pooled):
    """seq_relationship_logits = cls.seq_relationship(pooled): 0 = IsNext, 1 = NotNext."""
    return layers.linear_forward(pooled, params["cls.seq_relationship.weight"],
                                 params["cls.seq_relationship.bias"])                # (B, 2)


# ----------------------------------------------------------------------------- models

# The layer namespaces a model can compose: the same functions, the same numbers within
# float rounding (tests/test_fast.py, tests/test_model.py).
LAYERS = {"fast": fast, "reference": reference_layers}


def resolve_layers(layers):
    """"fast" (numpy_bert.fast, the default), "reference" (numpy_bert.layers, the code
    to read) or a namespace of your own with the same functions (a module, say, where a
    student wrote them): returned as the namespace the model calls."""
    if isinstance(layers, str):
        if layers not in LAYERS:
            raise ValueError(f"layers must be one of {sorted(LAYERS)} or a namespace of layer "
                             f"functions, got {layers!r}")
        return LAYERS[layers]
    missing = [name for name in reference_layers.__all__ if not hasattr(layers, name)]
    if missing:
        raise TypeError(f"layers {layers!r} lacks {', '.join(missing[:4])}"
                        f"{' ...' if len(missing) > 4 else ''}; give it every function of "
                        f"numpy_bert.layers, or pass 'fast' or 'reference'")
    return layers


class BertModel:
    """The BERT encoder: embeddings, L post-LN layers and the [CLS] pooler (no heads).

    Parameter names have no prefix ("embeddings.word_embeddings.weight"), as in HF's
    ``BertModel.named_parameters()``. ``layers`` picks the layer functions the model
    composes: "fast" (the default) or "reference" (numpy_bert.layers, plain NumPy; see
    resolve_layers); ``model.layers`` is that namespace.
    """

    architecture = "BertModel"
    _prefix = ""

    def __init__(self, config, seed=0, dtype=np.float32, layers="fast"):
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a numpy_bert.BertConfig, got {type(config).__name__}")
        self._check_config(config)
        dtype = _check_dtype(dtype)
        self._setup(config, init_params(config, self.architecture, seed, dtype), seed, layers)

    @classmethod
    def _check_config(cls, config):
        """Refuse a config this class cannot be built from (a head's constraints)."""

    def _setup(self, config, params, seed, layers):
        self.config = config
        self.layers = resolve_layers(layers)
        self.params = params
        self.dtype = next(iter(params.values())).dtype
        self.rng = np.random.default_rng([seed, 1])   # dropout's Generator (init used [seed])
        self.training = False
        self.loading_info = None                      # from_pretrained: what it loaded

    @classmethod
    def from_pretrained(cls, model_dir, dtype=np.float32, seed=0, layers="fast",
                        ignore_mismatched_sizes=False, allow_nonfinite=False, **config_overrides):
        """Load ``<model_dir>/config.json`` and its weights (model.safetensors or model.npz),
        as transformers' ``from_pretrained`` does; ``layers`` as in the constructor.

        ``config_overrides`` change the config first (``num_labels=3``, ``id2label={0: "neg",
        ...}``, ``problem_type="regression"``, ``classifier_dropout=0.2``: see
        BertConfig.replace). The checkpoint may come from another architecture: a BertModel
        or BertForPreTraining checkpoint loads into any class here. Tensors it lacks (the
        new head, or a pooler) are initialised as HF initialises them, from
        ``np.random.default_rng(seed)`` (init_params), and named in a warning; tensors it
        has that this class has no place for are left out. ``model.loading_info`` says
        which: {"missing_keys", "unexpected_keys", "mismatched_keys"}. A head whose shape
        differs from the config's (another num_labels) is an error unless
        ``ignore_mismatched_sizes=True``, which initialises it anew. Weights holding NaN
        or infinity are refused, naming the tensors, unless ``allow_nonfinite=True``
        (loads them anyway, for inspection, with a warning).

            >>> model = BertForSequenceClassification.from_pretrained(            # doctest: +SKIP
            ...     "all-MiniLM-L6-v2", num_labels=3)
            UserWarning: Some weights of BertForSequenceClassification were not initialized ...
            >>> model.loading_info["missing_keys"]                                # doctest: +SKIP
            ['classifier.weight', 'classifier.bias']
        """
        dtype = _check_dtype(dtype)
        config = BertConfig.from_pretrained(model_dir, **config_overrides)
        cls._check_config(config)
        params, info = weights.load_pretrained(model_dir, config, cls.architecture, dtype,
                                               ignore_mismatched_sizes, allow_nonfinite)
        expected = weights.expected_shapes(config, cls.architecture)
        new = [name for name in expected if name not in params]
        if new:
            params.update(init_params(config, cls.architecture, seed, dtype, names=new))
            warnings.warn(_newly_initialized_message(cls.__name__, model_dir, info), UserWarning,
                          stacklevel=2)
        model = cls.__new__(cls)
        model._setup(config, {name: params[name] for name in expected}, seed, layers)
        model.loading_info = info
        return model

    def save_pretrained(self, model_dir):
        """Write config.json + model.safetensors (atomically) that transformers loads as is."""
        model_dir = os.fspath(model_dir)
        os.makedirs(model_dir, exist_ok=True)
        config = BertConfig.from_dict({**self.config.to_dict(), "architectures": [type(self).__name__]})
        config.to_json_file(os.path.join(model_dir, "config.json"))
        weights.save_state_dict(self.params, os.path.join(model_dir, "model.safetensors"))

    def train(self):
        """Dropout on (with self.rng)."""
        self.training = True
        return self

    def eval(self):
        """Dropout off (the default)."""
        self.training = False
        return self

    def num_parameters(self):
        return sum(p.size for p in self.params.values())

    def _encode(self, input_ids, token_type_ids, attention_mask, keep_caches=False,
                output_hidden_states=False, output_attentions=False, inputs_embeds=None, head_mask=None):
        ids, types, mask = _check_inputs(self.config, input_ids, token_type_ids, attention_mask,
                                         inputs_embeds, self.dtype)
        head_mask = _check_head_mask(self.config, head_mask, self.dtype)           # (L, NH) | None
        x, extras, caches = bert_forward(self.layers, self.params, self._prefix, self.config, ids, types, mask,
                                         self.rng, self.training, keep_caches,
                                         output_hidden_states, output_attentions, head_mask)
        return x, extras, caches, ids

    def sequence_output(self, input_ids=None, token_type_ids=None, attention_mask=None, inputs_embeds=None,
                        head_mask=None):
        """The encoder's last hidden state x_L (B, T, H) alone: no pooler, no head (the
        fill-mask pipeline runs the MLM head on the [MASK] rows only)."""
        return self._encode(input_ids, token_type_ids, attention_mask, inputs_embeds=inputs_embeds,
                            head_mask=head_mask)[0]

    def __call__(self, input_ids=None, token_type_ids=None, attention_mask=None,
                 output_hidden_states=False, output_attentions=False, inputs_embeds=None, head_mask=None):
        """-> {"last_hidden_state" (B, T, H), "pooler_output" (B, H), ["hidden_states"],
        ["attentions"]}. attention_mask: 1 for real tokens, 0 for padding.

        As in HF: ``inputs_embeds`` (B, T, H) replaces input_ids (vectors in place of the
        word embeddings; positions and token types are still added), and ``head_mask``,
        (NH,) or (L, NH), multiplies each head's attention probabilities (0 switches a
        head off)."""
        x, extras, _, _ = self._encode(input_ids, token_type_ids, attention_mask, False,
                                       output_hidden_states, output_attentions, inputs_embeds, head_mask)
        pooled, _ = pooler_forward(self.layers, self.params, self._prefix, x)
        return {"last_hidden_state": x, "pooler_output": pooled, **extras}


def _newly_initialized_message(class_name, model_dir, info):
    """transformers' warning, naming the tensors from_pretrained initialised."""
    lines = []
    if info["missing_keys"]:
        lines.append(f"Some weights of {class_name} were not initialized from the model checkpoint at "
                     f"{os.fspath(model_dir)} and are newly initialized: {info['missing_keys']}")
    if info["mismatched_keys"]:
        lines.append(f"Some weights of {class_name} were not initialized from the model checkpoint at "
                     f"{os.fspath(model_dir)} and are newly initialized because the shapes did not match:")
        lines += [f"- {name}: found shape {found} in the checkpoint and {want} in the model instantiated"
                  for name, found, want in info["mismatched_keys"]]
    lines.append("You should probably TRAIN this model on a down-stream task to be able to use it "
                 "for predictions and inference.")
    return "\n".join(lines)


class BertForPreTraining(BertModel):
    """BERT with its two pre-training heads: masked LM (tied decoder) and next sentence.

    Parameter names as HF's ``BertForPreTraining.named_parameters()``: "bert.*" for the
    encoder, "cls.*" for the heads; the tied decoder weight is not repeated.
    """

    architecture = "BertForPreTraining"
    _prefix = "bert."

    def __call__(self, input_ids=None, token_type_ids=None, attention_mask=None,
                 output_hidden_states=False, output_attentions=False, inputs_embeds=None, head_mask=None):
        """-> {"prediction_logits" (B, T, V), "seq_relationship_logits" (B, 2),
        "last_hidden_state" (B, T, H), "pooler_output" (B, H), ["hidden_states"], ["attentions"]}.
        inputs_embeds and head_mask as in BertModel.__call__."""
        x, extras, _, _ = self._encode(input_ids, token_type_ids, attention_mask, False,
                                       output_hidden_states, output_attentions, inputs_embeds, head_mask)
        pooled, _ = pooler_forward(self.layers, self.params, self._prefix, x)       # (B, H)
        logits, _ = mlm_head_forward(self.layers, self.params, self.config, x)      # (B, T, V)
        nsp, _ = nsp_head_forward(self.layers, self.params, pooled)                 # (B, 2)
        return {"prediction_logits": logits, "seq_relationship_logits": nsp,
                "last_hidden_state": x, "pooler_output": pooled, **extras}

    def loss_and_grads(self, input_ids=None, token_type_ids=None, attention_mask=None, labels=None,
                       next_sentence_label=None, return_details=False, inputs_embeds=None, head_mask=None,
                       return_input_grads=False, return_activation_grads=False):
        """Pre-training loss and the gradient of every parameter.

        loss = mean cross-entropy of the MLM logits over the positions where labels != -100
             + mean cross-entropy of the NSP logits (HF's total_loss)
        With next_sentence_label=None only the MLM term, with labels=None only the NSP term.

        The MLM head runs only at the M labelled positions (gathered first, like google's
        ``gather_indexes``): the loss and gradients are those of the full (B, T, V) head,
        whose other rows the loss never reads, for M/(B*T) of the cost.

        If every label is -100 (M = 0) the MLM term is defined as 0.0 with zero gradient
        (PyTorch's mean over an empty set gives NaN).

        Returns (loss, grads) with grads keyed like self.params, or with return_details
        (loss, grads, {"mlm_loss", "nsp_loss", "mlm_logits" (M, V), "seq_relationship_logits"
        (B, 2)}); a loss term that was not asked for is None.

        inputs_embeds and head_mask as in __call__. ``return_input_grads`` adds to grads
        "inputs_embeds", "embedding_output" and "head_mask"; ``return_activation_grads``
        the gradient at every named activation of every layer (inspection_grads says
        which, LAYER_ACTIVATIONS what each is).
        """
        ids, types, mask = _check_inputs(self.config, input_ids, token_type_ids, attention_mask,
                                         inputs_embeds, self.dtype)
        head_mask_ndim = np.ndim(head_mask)
        head_mask = _check_head_mask(self.config, head_mask, self.dtype)           # (L, NH) | None
        B, T = ids.shape[:2]
        labels, next_sentence_label = _check_labels(self.config, labels, next_sentence_label, B, T)
        layers, params, config, H = self.layers, self.params, self.config, self.config.hidden_size

        # ---- forward, keeping each layer's cache
        x, _, caches = bert_forward(layers, params, "bert.", config, ids, types, mask, self.rng,
                                    self.training, keep_caches=True, head_mask=head_mask)  # (B, T, H)
        pooled, c_pool = pooler_forward(layers, params, "bert.", x)                 # (B, H)
        nsp_logits, c_nsp = nsp_head_forward(layers, params, pooled)                # (B, 2)

        loss, mlm_loss, nsp_loss, mlm_logits = 0.0, None, None, None
        if labels is not None:
            flat_labels = labels.reshape(-1)                                        # (B*T,)
            rows = np.flatnonzero(flat_labels != IGNORE_INDEX)                      # (M,) row-major
            x_masked = x.reshape(B * T, H)[rows]                                    # (M, H)
            if rows.size:
                mlm_logits, c_mlm = mlm_head_forward(layers, params, config, x_masked, True)  # (M, V)
                mlm_loss, c_ce = layers.cross_entropy_forward(mlm_logits, flat_labels[rows])
                mlm_loss = float(mlm_loss)
            else:   # nothing to predict: defined as 0 (see docstring)
                mlm_logits = np.zeros((0, config.vocab_size), dtype=x.dtype)        # (0, V)
                mlm_loss = 0.0
            loss += mlm_loss
        if next_sentence_label is not None:
            nsp_loss, c_nsp_ce = layers.cross_entropy_forward(nsp_logits, next_sentence_label)
            nsp_loss = float(nsp_loss)
            loss += nsp_loss

        # ---- backward, in exact reverse order: MLM head, NSP head, pooler, encoder
        grads = {name: np.zeros(p.shape, p.dtype) for name, p in params.items()}
        dx = np.zeros_like(x)                                                       # (B, T, H)
        if labels is not None and rows.size:
            dlogits = layers.cross_entropy_backward(1.0, c_ce)                      # (M, V)
            dx_masked = mlm_head_backward(layers, dlogits, c_mlm, grads)            # (M, H)
            del dlogits, c_mlm
            # x_masked = x.reshape(B*T, H)[rows]: scatter back (rows are distinct)
            dx.reshape(B * T, H)[rows] += dx_masked
        if next_sentence_label is not None:
            dnsp = layers.cross_entropy_backward(1.0, c_nsp_ce)                     # (B, 2)
            dpooled, dw, db = layers.linear_backward(dnsp, c_nsp)                   # (B, H)
            grads["cls.seq_relationship.weight"] += dw
            grads["cls.seq_relationship.bias"] += db
            dx[:, 0] += pooler_backward(layers, dpooled, c_pool, grads, "bert.")    # (B, H)
        del x, c_pool
        inspect = return_input_grads or return_activation_grads
        activation_grads = {} if inspect else None
        dwords = bert_backward(layers, dx, caches, grads, "bert.", config, activation_grads)
        if inspect:
            grads.update(inspection_grads(activation_grads, dwords, "bert.", config, head_mask_ndim, (B, T),
                                          return_input_grads, return_activation_grads))

        if not return_details:
            return loss, grads
        details = {"mlm_loss": mlm_loss, "nsp_loss": nsp_loss, "mlm_logits": mlm_logits,
                   "seq_relationship_logits": nsp_logits}
        return loss, grads, details


# ----------------------------------------------------------------------------- task heads
#
# Every fine-tuning head is one linear layer on the encoder's output: on the pooled [CLS]
# vector (B, H) for a label per sequence, on every token (B, T, H) for a label per token.
# The classes below share one forward and one backward; each says where its head reads,
# how its logits are shaped, and which loss it takes (HF's choices, class by class).

def classifier_forward(layers, params, name, h, dropout_p, rng, training):
    """logits = dropout(h) @ W.T + b, with W = params[name + ".weight"] (N, H), b (N,).

    h is the pooled output (B, H) or the sequence output (B, T, H); logits (B, N) or
    (B, T, N). NSP and QA have no dropout here (dropout_p = 0: the identity).
    Backward: dW = dlogits^T dropout(h), db = sum of dlogits over the rows,
    dh = dropout_backward(dlogits @ W) (the forward's mask).
    """
    dropped, c_dropout = layers.dropout_forward(h, dropout_p, rng, training)          # (..., H)
    logits, c_linear = layers.linear_forward(dropped, params[name + ".weight"],
                                             params[name + ".bias"])                 # (..., N)
    return logits, {"dropout": c_dropout, "linear": c_linear}


def classifier_backward(layers, dlogits, cache, grads, name):
    """Returns dh (..., H); adds the linear's gradients into grads[name + ".weight/.bias"]."""
    dh, dw, db = layers.linear_backward(dlogits, cache["linear"])                   # (..., H)
    grads[name + ".weight"] += dw                                                   # (N, H)
    grads[name + ".bias"] += db                                                     # (N,)
    return layers.dropout_backward(dh, cache["dropout"])                            # (..., H)


def _input_shape(input_ids, inputs_embeds):
    """The shape of the token grid: input_ids' (B, T) / (B, C, T), or inputs_embeds' less H."""
    return tuple(np.shape(input_ids)) if inputs_embeds is None else tuple(np.shape(inputs_embeds)[:-1])


def _class_ids(labels, name, shape, num_classes, ignore_index=IGNORE_INDEX):
    """labels as integer class ids of ``shape`` in [0, num_classes) or ignore_index."""
    labels = _as_int_array(labels, name)
    if labels.shape != shape:
        raise ValueError(f"{name} has shape {labels.shape} but must be {shape}")
    bad = labels[(labels != ignore_index) & ((labels < 0) | (labels >= num_classes))]
    if bad.size:
        raise ValueError(f"{name} must be class ids in [0, {num_classes}) or {ignore_index} "
                         f"(ignored), got {int(bad[0])}")
    return labels


def _cross_entropy(layers, logits, labels, ignore_index=IGNORE_INDEX):
    """(mean cross-entropy of logits (..., C) against labels (...), dlogits (..., C)):
    rows labelled ignore_index are skipped; all of them ignored gives 0 and a zero gradient."""
    C = logits.shape[-1]
    loss, cache = layers.cross_entropy_forward(logits.reshape(-1, C), labels.reshape(-1), ignore_index)
    return float(loss), layers.cross_entropy_backward(1.0, cache).reshape(logits.shape)


class _BertWithHead(BertModel):
    """What the task heads share: encoder -> pooled or sequence output -> head -> logits.

        h      = pooler(x_L) (B, H)  if _on_pooled  else x_L (B, T, H)
        logits = head(h)             (classifier_forward unless a class says otherwise)
        loss   = the class's loss of (logits, labels); backward in exact reverse order

    A subclass sets ``architecture``, ``_on_pooled``, ``_head`` (the head's parameter
    prefix) and ``_head_dropout``, and says what its labels are (``_labels_help`` and
    ``_labels_spec``); the loss is the mean cross-entropy with -100 skipped unless it
    defines ``_check_labels`` and ``_loss`` of its own; ``_outputs`` names the logits as
    HF's output does.
    """

    _prefix = "bert."
    _on_pooled = True           # the head reads the pooled [CLS] vector, else every token
    _head = "classifier"        # its parameters: classifier.weight (N, H), classifier.bias (N,)
    _head_dropout = True        # dropout before it: classifier_dropout, else hidden_dropout_prob

    def _dropout_p(self):
        if not self._head_dropout:
            return 0.0
        p = self.config.classifier_dropout
        return self.config.hidden_dropout_prob if p is None else p

    # ---- the head; BertForMaskedLM has its own
    def _head_forward(self, h, keep_caches):
        return classifier_forward(self.layers, self.params, self._head, h, self._dropout_p(),
                                  self.rng, self.training)

    def _head_backward(self, dlogits, cache, grads):
        return classifier_backward(self.layers, dlogits, cache, grads, self._head)

    # ---- shapes; BertForMultipleChoice flattens its (B, C, T) inputs
    def _inputs(self, input_ids, token_type_ids, attention_mask, inputs_embeds=None):
        return _check_inputs(self.config, input_ids, token_type_ids, attention_mask, inputs_embeds,
                             self.dtype)

    def _task_logits(self, head_logits, input_shape):
        return head_logits

    def _outputs(self, logits):
        return {"logits": logits}

    # ---- labels and loss: class ids and the mean cross-entropy, unless a class says otherwise
    _labels_help = "(B,): class ids"

    def _labels_spec(self, input_shape):
        """(the labels' shape, the number of classes)."""
        raise NotImplementedError

    def _check_labels(self, labels, input_shape):
        if labels is None:
            raise ValueError(f"loss_and_grads needs labels {self._labels_help}")
        shape, num_classes = self._labels_spec(tuple(input_shape))
        return _class_ids(labels, "labels", shape, num_classes)

    def _loss(self, logits, labels):
        return _cross_entropy(self.layers, logits, labels)

    def _forward(self, input_ids, token_type_ids, attention_mask, keep_caches=False,
                 output_hidden_states=False, output_attentions=False, inputs_embeds=None, head_mask=None):
        """-> (logits as the task shapes them, extras, caches for the backward)."""
        input_shape = _input_shape(input_ids, inputs_embeds)
        ids, types, mask = self._inputs(input_ids, token_type_ids, attention_mask, inputs_embeds)
        head_mask = _check_head_mask(self.config, head_mask, self.dtype)           # (L, NH) | None
        x, extras, c_bert = bert_forward(self.layers, self.params, "bert.", self.config, ids, types,
                                         mask, self.rng, self.training, keep_caches,
                                         output_hidden_states, output_attentions, head_mask)  # (B, T, H)
        h, c_pool = pooler_forward(self.layers, self.params, "bert.", x) if self._on_pooled else (x, None)
        head_logits, c_head = self._head_forward(h, keep_caches)                  # (B, N) | (B, T, N)
        logits = self._task_logits(head_logits, input_shape)
        return logits, extras, (c_bert, c_pool, c_head, x.shape, head_logits.shape)

    def __call__(self, input_ids=None, token_type_ids=None, attention_mask=None,
                 output_hidden_states=False, output_attentions=False, inputs_embeds=None, head_mask=None):
        """-> {"logits": ...} (the class docstring gives its shape), plus "hidden_states" and
        "attentions" when asked. attention_mask: 1 for real tokens, 0 for padding;
        inputs_embeds and head_mask as in BertModel.__call__."""
        logits, extras, _ = self._forward(input_ids, token_type_ids, attention_mask, False,
                                          output_hidden_states, output_attentions, inputs_embeds, head_mask)
        return {**self._outputs(logits), **extras}

    def _loss_and_grads(self, input_ids, token_type_ids, attention_mask, labels, return_details,
                        inputs_embeds=None, head_mask=None, return_input_grads=False,
                        return_activation_grads=False):
        self._inputs(input_ids, token_type_ids, attention_mask, inputs_embeds)  # their errors first,
        _check_head_mask(self.config, head_mask, self.dtype)
        input_shape = _input_shape(input_ids, inputs_embeds)
        labels = self._check_labels(labels, input_shape)            # then the labels', before any work
        # ---- forward, keeping each layer's cache
        logits, _, (c_bert, c_pool, c_head, x_shape, head_shape) = self._forward(
            input_ids, token_type_ids, attention_mask, True, inputs_embeds=inputs_embeds, head_mask=head_mask)
        loss, dlogits = self._loss(logits, labels)
        # ---- backward, in exact reverse order: head, pooler (if any), encoder
        grads = {name: np.zeros(p.shape, p.dtype) for name, p in self.params.items()}
        dh = self._head_backward(dlogits.reshape(head_shape), c_head, grads)    # (B, H) | (B, T, H)
        if self._on_pooled:
            dx = np.zeros(x_shape, dh.dtype)                                    # (B, T, H)
            dx[:, 0] = pooler_backward(self.layers, dh, c_pool, grads, "bert.")  # only [CLS] feeds it
        else:
            dx = dh
        inspect = return_input_grads or return_activation_grads
        activation_grads = {} if inspect else None
        dwords = bert_backward(self.layers, dx, c_bert, grads, "bert.", self.config, activation_grads)
        if inspect:
            grads.update(inspection_grads(activation_grads, dwords, "bert.", self.config, np.ndim(head_mask),
                                          input_shape, return_input_grads, return_activation_grads))
        if not return_details:
            return loss, grads
        return loss, grads, self._outputs(logits)

    def loss_and_grads(self, input_ids=None, token_type_ids=None, attention_mask=None, labels=None,
                       return_details=False, inputs_embeds=None, head_mask=None, return_input_grads=False,
                       return_activation_grads=False):
        """The loss (the class docstring says which) and the gradient of every parameter.

        Returns (loss, grads), grads keyed like self.params, or with return_details
        (loss, grads, details), details holding the logits under the forward's keys.
        inputs_embeds, head_mask, return_input_grads and return_activation_grads as in
        BertForPreTraining.loss_and_grads.
        """
        return self._loss_and_grads(input_ids, token_type_ids, attention_mask, labels, return_details,
                                    inputs_embeds, head_mask, return_input_grads, return_activation_grads)


class BertForSequenceClassification(_BertWithHead):
    """BERT with a classifier on the pooled [CLS] vector: one label (or score) per sequence.

        logits = classifier(dropout(pooled))              (B, N), N = config.num_labels

    The loss follows ``config.problem_type``; when it is None it is chosen as transformers
    chooses it, on the first labelled call, and kept in the config (so save_pretrained
    writes it): N = 1 -> regression; integer labels -> single_label_classification; float
    labels -> multi_label_classification.

        regression                   loss = mean((logits - labels)^2)        labels (B,) or (B, N)
        single_label_classification  loss = mean cross-entropy, labels (B,) class ids (-100 skipped)
        multi_label_classification   loss = mean BCE-with-logits over (B, N), labels 0/1 (or in [0, 1])

    Dropout p is config.classifier_dropout, or hidden_dropout_prob when that is None.
    """

    architecture = "BertForSequenceClassification"

    def _labels_spec(self, input_shape):                                       # single-label
        return input_shape[:1], self.config.num_labels                         # logits (B, N)

    def _problem_type(self, labels):
        config = self.config
        if config.problem_type is None:
            if config.num_labels == 1:
                config.problem_type = "regression"
            elif labels.dtype.kind in "iu":
                config.problem_type = "single_label_classification"
            else:
                config.problem_type = "multi_label_classification"
        return config.problem_type

    def _check_labels(self, labels, input_shape):
        if labels is None:
            raise ValueError("loss_and_grads needs labels: class ids (B,), or floats (B, num_labels) "
                             "for multi-label classification and regression")
        labels = np.asarray(labels)
        if labels.dtype.kind not in "biuf":
            raise TypeError(f"labels must be numbers, got dtype {labels.dtype}")
        B, N = input_shape[0], self.config.num_labels
        problem = self._problem_type(labels)
        if problem == "single_label_classification":
            return super()._check_labels(labels, input_shape)
        want = (B,) if problem == "regression" and N == 1 and labels.shape == (B,) else (B, N)
        if labels.shape != want:
            raise ValueError(f"labels for {problem} have shape {labels.shape} but must be {want} "
                             f"(num_labels={N})" + (" or (B,)" if want == (B, 1) else ""))
        labels = labels.astype(np.float64).reshape(B, N)
        if not np.all(np.isfinite(labels)):
            raise ValueError("labels must be finite numbers")
        if problem == "multi_label_classification" and not np.all((labels >= 0) & (labels <= 1)):
            raise ValueError("multi-label labels are targets of a sigmoid and must be in [0, 1] "
                             "(1 = the label applies)")
        return labels

    def _loss(self, logits, labels):
        problem = self.config.problem_type
        if problem == "single_label_classification":
            return super()._loss(logits, labels)
        if problem == "regression":
            loss, cache = self.layers.mse_loss_forward(logits, labels)
            return float(loss), self.layers.mse_loss_backward(1.0, cache)
        loss, cache = self.layers.bce_with_logits_forward(logits, labels)
        return float(loss), self.layers.bce_with_logits_backward(1.0, cache)


class BertForTokenClassification(_BertWithHead):
    """BERT with a classifier on every token: one label per token (NER, POS tagging).

        logits = classifier(dropout(x_L))                 (B, T, N), N = config.num_labels
        loss   = mean cross-entropy over the tokens whose label is not -100

    labels (B, T): class ids, -100 where no label is predicted (padding, [CLS], [SEP], the
    continuation pieces of a word). If every label is -100 the loss is defined as 0.0 with
    zero gradients, as the MLM's (PyTorch's mean over an empty set gives NaN). Dropout p is
    config.classifier_dropout, or hidden_dropout_prob when that is None.
    """

    architecture = "BertForTokenClassification"
    _on_pooled = False
    _labels_help = "(B, T): class ids, -100 where none"

    def _labels_spec(self, input_shape):
        return input_shape, self.config.num_labels                             # logits (B, T, N)


class BertForQuestionAnswering(_BertWithHead):
    """BERT with start / end scores on every token: extractive question answering (SQuAD).

        start_logits, end_logits = qa_outputs(x_L)[..., 0], [..., 1]     (B, T) each
        loss = (CE(start_logits, start_positions) + CE(end_logits, end_positions)) / 2

    As HF: positions are clamped to [0, T], and a position equal to T (one that was outside
    the sequence, e.g. an answer cut off by truncation) is ignored in its cross-entropy;
    each cross-entropy is a mean over its own kept rows (0 when none is kept). No dropout.
    """

    architecture = "BertForQuestionAnswering"
    _on_pooled = False
    _head = "qa_outputs"                 # qa_outputs.weight (2, H), qa_outputs.bias (2,)
    _head_dropout = False

    @classmethod
    def _check_config(cls, config):
        if config.num_labels != 2:
            raise ValueError(f"BertForQuestionAnswering's qa_outputs give a start and an end score: "
                             f"config.num_labels must be 2, got {config.num_labels}; pass num_labels=2")

    def _outputs(self, logits):                                               # logits (B, T, 2)
        return {"start_logits": np.ascontiguousarray(logits[..., 0]),
                "end_logits": np.ascontiguousarray(logits[..., 1])}

    def _check_labels(self, positions, input_shape):
        start, end = positions
        if start is None or end is None:
            raise ValueError("loss_and_grads needs start_positions and end_positions (B,): the "
                             "answer's first and last token")
        B, T = input_shape
        clamped = []
        for name, p in (("start_positions", start), ("end_positions", end)):
            p = _as_int_array(p, name)
            if p.ndim == 2 and p.shape[1] == 1:              # (B, 1), as HF accepts it
                p = p[:, 0]
            if p.shape != (B,):
                raise ValueError(f"{name} must have shape (B,) = {(B,)}, got {np.shape(p)}")
            clamped.append(np.clip(p, 0, T))                 # HF: clamp(0, T); T is ignored
        return tuple(clamped)

    def _loss(self, logits, positions):
        T = logits.shape[1]
        start_loss, dstart = _cross_entropy(self.layers, logits[..., 0], positions[0], ignore_index=T)
        end_loss, dend = _cross_entropy(self.layers, logits[..., 1], positions[1], ignore_index=T)
        dlogits = np.stack([dstart, dend], axis=-1) * 0.5                       # (B, T, 2)
        return (start_loss + end_loss) / 2, dlogits

    def loss_and_grads(self, input_ids=None, token_type_ids=None, attention_mask=None, start_positions=None,
                       end_positions=None, return_details=False, inputs_embeds=None, head_mask=None,
                       return_input_grads=False, return_activation_grads=False):
        """The loss (see the class docstring) and the gradient of every parameter: (loss,
        grads), or with return_details (loss, grads, {"start_logits", "end_logits"});
        the other options as in BertForPreTraining.loss_and_grads."""
        return self._loss_and_grads(input_ids, token_type_ids, attention_mask,
                                    (start_positions, end_positions), return_details, inputs_embeds,
                                    head_mask, return_input_grads, return_activation_grads)


class BertForMaskedLM(_BertWithHead):
    """BERT with the masked-LM head only (no pooler, no NSP): predicts the masked tokens.

        logits = LayerNorm(act(transform.dense(x_L))) @ word_embeddings.T + cls.predictions.bias
                                                          (B, T, V), the decoder tied
        loss   = mean cross-entropy over the positions whose label is not -100

    The head is BertForPreTraining's (mlm_head_forward), here on every token as HF's
    BertForMaskedLM runs it; all labels -100 gives loss 0.0 with zero gradients.
    """

    architecture = "BertForMaskedLM"
    _on_pooled = False

    def _head_forward(self, h, keep_caches):
        return mlm_head_forward(self.layers, self.params, self.config, h, keep_caches)

    def _head_backward(self, dlogits, cache, grads):
        return mlm_head_backward(self.layers, dlogits, cache, grads)

    _labels_help = "(B, T): the token ids to predict, -100 elsewhere"

    def _labels_spec(self, input_shape):
        return input_shape, self.config.vocab_size                             # logits (B, T, V)


class BertForNextSentencePrediction(_BertWithHead):
    """BERT with the next-sentence head only: does sentence B follow sentence A?

        logits = cls.seq_relationship(pooled)             (B, 2): 0 = IsNext, 1 = NotNext
        loss   = mean cross-entropy against labels (B,) in {0, 1}

    No dropout on the pooled output (HF's BertOnlyNSPHead is the linear alone).
    """

    architecture = "BertForNextSentencePrediction"
    _head = "cls.seq_relationship"
    _head_dropout = False
    _labels_help = "(B,): 0 (IsNext) or 1 (NotNext)"

    def _labels_spec(self, input_shape):
        return input_shape[:1], 2                                              # logits (B, 2)


class BertForMultipleChoice(_BertWithHead):
    """BERT scoring C candidate continuations of each example (SWAG, RACE).

    Inputs are (B, C, T): each of the B*C pairs is encoded on its own, its pooled vector
    scored by one linear layer, and the C scores of an example compared:

        scores = classifier(dropout(pooled))              (B*C, 1), classifier.weight (1, H)
        logits = scores.reshape(B, C)
        loss   = mean cross-entropy against labels (B,), the right choice in [0, C)

    hidden_states / attentions, when asked for, are those of the (B*C, T) flattened batch,
    as HF's. Dropout p is config.classifier_dropout, or hidden_dropout_prob when None.
    """

    architecture = "BertForMultipleChoice"

    def _inputs(self, input_ids, token_type_ids, attention_mask, inputs_embeds=None):
        if inputs_embeds is not None:
            if input_ids is not None:
                raise ValueError("pass exactly one of input_ids (B, C, T) and inputs_embeds (B, C, T, H)")
            if np.ndim(inputs_embeds) != 4 or 0 in np.shape(inputs_embeds):
                raise ValueError(f"BertForMultipleChoice takes inputs_embeds of shape (B, C, T, H), got "
                                 f"shape {np.shape(inputs_embeds)}")
            ids = None
            shape = np.shape(inputs_embeds)[:3]                                    # (B, C, T)
        else:
            ids = _as_int_array(input_ids, "input_ids")
            if ids.ndim != 3 or 0 in ids.shape:
                raise ValueError(f"BertForMultipleChoice takes input_ids of shape (B, C, T): C choices "
                                 f"per example, got shape {ids.shape}")
            shape = ids.shape
        B, C, T = shape
        flat = [None if a is None else np.asarray(a) for a in (token_type_ids, attention_mask)]
        for name, a in zip(("token_type_ids", "attention_mask"), flat):
            if a is not None and a.shape != shape:
                raise ValueError(f"{name} has shape {a.shape} but the inputs have shape {shape}; "
                                 f"they must match")
        flat = [None if a is None else a.reshape(B * C, T) for a in flat]
        embeds = None if inputs_embeds is None else np.reshape(inputs_embeds, (B * C, T, -1))
        ids = None if ids is None else ids.reshape(B * C, T)
        return _check_inputs(self.config, ids, *flat, embeds, self.dtype)      # (B*C, T) each

    def _task_logits(self, head_logits, input_shape):
        return head_logits.reshape(input_shape[:2])                            # (B*C, 1) -> (B, C)

    _labels_help = "(B,): the right choice of each example"

    def _labels_spec(self, input_shape):
        return input_shape[:1], input_shape[1]                                 # logits (B, C)
