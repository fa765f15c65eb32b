"""Assignment 4: pretraining. The data recipe and the optimizer that pretrained BERT.

You write, in plain NumPy (import only numpy, math, regex, unicodedata):

1. ``mask_ids``            the masked-LM recipe: 15% of the tokens picked, 80/10/10
2. ``create_nsp_pair``     a next-sentence-prediction pair: IsNext (0) or NotNext (1)
3. ``truncate_seq_pair``   google's truncation of a pair to a length budget
4. ``use_weight_decay``    which parameters get weight decay
5. ``adam_weight_decay_step``  BERT's AdamWeightDecay: Adam without bias correction,
                           decoupled weight decay
6. ``learning_rate``       linear warmup, then linear decay to 0

Each docstring states what to compute. numpy_bert has its own versions
(``numpy_bert.data``, ``numpy_bert.optim``): read them after you are done, but a
function that calls them earns no points. The notebook ``a4_pretraining.ipynb`` calls
your functions and trains a tiny BERT with them.

Shapes: n tokens in a sequence, M picked (masked) positions, V vocabulary size.
"""

import re

import numpy as np

IS_NEXT, NOT_NEXT = 0, 1  # next_sentence_label values (HuggingFace's convention)


# ----------------------------------------------------------------------------------------
# 1. Masked language model: the 80/10/10 recipe


def mask_ids(ids, can_predict, random_ids, mask_token_id, rng, masked_lm_prob=0.15,
             max_predictions_per_seq=20, mask_prob=0.8, random_prob=0.1):
    """Mask one sequence for the masked-LM objective (google-research/bert's recipe).

    ids: (n,) int, an unmasked ``[CLS] A [SEP] B [SEP]`` sequence.
    can_predict: (V,) bool, False for the special tokens ([CLS], [SEP], [PAD], [UNK],
        [MASK]): ``can_predict[ids]`` says which positions may be picked.
    random_ids: (R,) int, the ordinary tokens a random replacement is drawn from.
    rng: a numpy Generator; every random choice goes through it.

    1. The number of positions to predict counts every token, specials included:
           k = min(max_predictions_per_seq, max(1, round(masked_lm_prob * n)))
       (and at most the number of positions that can be predicted).
    2. Pick k of the predictable positions uniformly at random, without replacement.
    3. Each picked token is replaced by ``mask_token_id`` with probability mask_prob
       (80%), by a token drawn uniformly from random_ids with probability random_prob
       (10%), and left as it is otherwise (10%). It is predicted in all three cases.

    Returns ``(masked, positions, labels)``: masked (n,) a new array (ids is not
    changed), positions (M,) the picked positions in increasing order, labels (M,)
    the original ids at those positions.
    """
    ### BEGIN SOLUTION
    # HINT: find the predictable positions, shuffle them with rng, keep k; then one uniform draw per pick decides its fate
    ids = np.asarray(ids, dtype=np.int64)
    candidates = np.flatnonzero(can_predict[ids])                       # never [CLS], [SEP], ...
    k = min(max_predictions_per_seq, max(1, int(round(masked_lm_prob * len(ids)))), len(candidates))
    positions = np.sort(rng.permutation(candidates)[:k])                 # (M,)
    u = rng.random(k)                                                    # (M,) one draw decides each fate
    masked = ids.copy()
    to_mask = u < mask_prob
    to_random = (u >= mask_prob) & (u < mask_prob + random_prob)
    masked[positions[to_mask]] = mask_token_id
    masked[positions[to_random]] = rng.choice(np.asarray(random_ids), size=int(to_random.sum()))
    return masked, positions, ids[positions]
    ### END SOLUTION


# ----------------------------------------------------------------------------------------
# 2. Next sentence prediction


def create_nsp_pair(documents, doc_index, sentence_index, rng, cls_token_id, sep_token_id):
    """One next-sentence-prediction pair ``[CLS] A [SEP] B [SEP]``.

    documents: list of documents, each a list of sentences, each a 1-D int array of ids.
    A is ``documents[doc_index][sentence_index]`` (the document has a sentence after it).

    With probability 1/2, B is the next sentence of the same document and the label is
    IS_NEXT (0); otherwise B is a sentence drawn uniformly from a document drawn
    uniformly among the *other* documents, and the label is NOT_NEXT (1).

    Returns ``(input_ids, token_type_ids, next_sentence_label)``: input_ids (n,) int64
    ``[CLS] A [SEP] B [SEP]``; token_type_ids (n,) int64, 0 for ``[CLS] A [SEP]`` and 1 for
    ``B [SEP]``; next_sentence_label a Python int.
    """
    ### BEGIN SOLUTION
    # HINT: one uniform draw decides IsNext or NotNext; for NotNext, draw an index among the other documents only
    tokens_a = np.asarray(documents[doc_index][sentence_index], dtype=np.int64)
    if rng.random() < 0.5:
        tokens_b = documents[doc_index][sentence_index + 1]
        label = IS_NEXT
    else:
        other = int(rng.integers(len(documents) - 1))
        other += other >= doc_index                                      # uniform over the other documents
        sentences = documents[other]
        tokens_b = sentences[int(rng.integers(len(sentences)))]
        label = NOT_NEXT
    tokens_b = np.asarray(tokens_b, dtype=np.int64)
    input_ids = np.concatenate([[cls_token_id], tokens_a, [sep_token_id], tokens_b, [sep_token_id]])
    token_type_ids = np.zeros(len(input_ids), dtype=np.int64)
    token_type_ids[len(tokens_a) + 2:] = 1                               # B and its [SEP]
    return input_ids.astype(np.int64), token_type_ids, label
    ### END SOLUTION


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Truncate a pair of segments to at most ``max_num_tokens`` tokens in all (google's rule).

    While the pair is too long, remove one token from the longer segment (from B when
    they are equally long), from its front or its back with probability 1/2 each (so
    the model does not learn that text is always cut at the end).

    tokens_a (a,), tokens_b (b,): 1-D int arrays. Returns ``(tokens_a, tokens_b)``, each a
    contiguous piece of its input, with ``len(a) + len(b) <= max_num_tokens``.
    """
    ### BEGIN SOLUTION
    # HINT: loop while too long: take the longer segment (B on a tie), a uniform draw chooses its front or back
    a_lo, a_hi, b_lo, b_hi = 0, len(tokens_a), 0, len(tokens_b)
    while (a_hi - a_lo) + (b_hi - b_lo) > max_num_tokens:
        if a_hi - a_lo > b_hi - b_lo:
            if rng.random() < 0.5:
                a_lo += 1
            else:
                a_hi -= 1
        else:
            if rng.random() < 0.5:
                b_lo += 1
            else:
                b_hi -= 1
    return tokens_a[a_lo:a_hi], tokens_b[b_lo:b_hi]
    ### END SOLUTION


# ----------------------------------------------------------------------------------------
# 3. BERT's optimizer


def use_weight_decay(name):
    """True when the parameter called ``name`` (a HuggingFace name) gets weight decay.

    google-research/bert excludes every parameter whose name contains "LayerNorm",
    "layer_norm" or "bias":

        use_weight_decay("bert.encoder.layer.0.attention.self.query.weight")  -> True
        use_weight_decay("bert.embeddings.LayerNorm.weight")                  -> False
        use_weight_decay("cls.predictions.bias")                              -> False
    """
    ### BEGIN SOLUTION
    # HINT: test whether any of the three patterns occurs in the name
    return not any(re.search(pattern, name) for pattern in ("LayerNorm", "layer_norm", "bias"))
    ### END SOLUTION


def adam_weight_decay_step(params, grads, m, v, lr, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6):
    """One step of BERT's AdamWeightDecay, in place.

    params, grads, m, v: dicts name -> array, the same names and shapes (m and v start
    at zeros). For every name, with p = params[name], g = grads[name]:

        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g ** 2
        update = m / (sqrt(v) + eps)                 # no bias correction
        update = update + weight_decay * p           # only if use_weight_decay(name)
        p <- p - lr * update

    The arrays params[name], m[name] and v[name] are changed in place (the model holds
    the parameter arrays: a new array would not reach it). Returns None.
    """
    ### BEGIN SOLUTION
    # HINT: update the arrays in place (augmented assignment); the decay is added to the update, never to g
    for name, p in params.items():
        g = grads[name]
        m[name] *= beta1
        m[name] += (1.0 - beta1) * g
        v[name] *= beta2
        v[name] += (1.0 - beta2) * g * g
        update = m[name] / (np.sqrt(v[name]) + eps)
        if use_weight_decay(name):
            update = update + weight_decay * p
        p -= lr * update
    ### END SOLUTION


def learning_rate(step, peak_lr, warmup_steps, total_steps):
    """The learning rate of update number ``step`` (0 for the first update).

        lr = peak_lr * step / warmup_steps                                   if step < warmup_steps
        lr = peak_lr * (total_steps - step) / (total_steps - warmup_steps)   otherwise, never below 0

    so with a warmup the first update has lr 0, the peak comes at step == warmup_steps,
    and lr is 0 again at step == total_steps. warmup_steps may be 0 (no warmup). Returns a float.
    """
    ### BEGIN SOLUTION
    # HINT: two branches, warmup and decay; clamp at 0 past the end and avoid dividing by zero
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    return peak_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    ### END SOLUTION
