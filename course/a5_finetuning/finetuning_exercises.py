"""Assignment 5: fine-tuning. A classification head, its backward, and the training loop.

You write, in plain NumPy (import only numpy, math, regex, unicodedata):

1. ``classification_head_forward``   pooler + classifier on the [CLS] vector
2. ``classification_head_backward``  its gradients
3. ``clip_grad_norm``                PyTorch's global-norm clipping (what HF's Trainer runs)
4. ``epoch_batches``                 one epoch's shuffled batches of example indices
5. ``evaluate_accuracy``             accuracy over a data set, batch by batch
6. ``train_classifier``              the loop: batches, loss and gradients, clipping,
                                     the schedule, the optimizer step, an evaluation per epoch

numpy_bert has its own versions (``numpy_bert.model.BertForSequenceClassification``,
``numpy_bert.optim``, ``numpy_bert.finetune``): read them after you are done, but a
function that calls them earns no points. The notebook ``a5_finetuning.ipynb`` fine-tunes a
pretrained BERT on tweets with your loop.

Dimension key: B batch, T tokens, H hidden, K classes.
"""

import numpy as np


# ----------------------------------------------------------------------------------------
# 1. The classification head


def classification_head_forward(sequence_output, pooler_weight, pooler_bias, classifier_weight, classifier_bias):
    """BERT's sequence-classification head, at evaluation (no dropout):

        pooled = tanh(sequence_output[:, 0] @ pooler_weight.T + pooler_bias)     (B, H)
        logits = pooled @ classifier_weight.T + classifier_bias                  (B, K)

    sequence_output (B, T, H); pooler_weight (H, H), pooler_bias (H,) (HF's
    bert.pooler.dense); classifier_weight (K, H), classifier_bias (K,). Only the
    first token, [CLS], is read.

    Returns ``(logits, cache)``; the cache holds what the backward needs.
    """
    ### BEGIN SOLUTION
    # HINT: take the [CLS] row, one linear + tanh, one more linear; keep the inputs and the pooled vector
    cls = sequence_output[:, 0]                                          # (B, H)
    pooled = np.tanh(cls @ pooler_weight.T + pooler_bias)                # (B, H)
    logits = pooled @ classifier_weight.T + classifier_bias              # (B, K)
    cache = (sequence_output.shape, cls, pooler_weight, pooled, classifier_weight)
    return logits, cache
    ### END SOLUTION


def classification_head_backward(dlogits, cache):
    """The gradients of the head, from dlogits (B, K) = dLoss / dlogits:

        dclassifier_weight = dlogits.T @ pooled         dclassifier_bias = sum of dlogits over B
        dpooled = dlogits @ classifier_weight
        dz = dpooled * (1 - pooled ** 2)                (tanh' = 1 - tanh^2)
        dpooler_weight = dz.T @ cls                     dpooler_bias = sum of dz over B
        dsequence_output[:, 0] = dz @ pooler_weight, and 0 at every other position

    Returns ``(dsequence_output, dpooler_weight, dpooler_bias, dclassifier_weight,
    dclassifier_bias)``, in the order of the forward's arguments, each of its argument's shape.
    """
    ### BEGIN SOLUTION
    # HINT: undo the forward's lines in reverse order; only position 0 of the sequence gets a gradient
    shape, cls, pooler_weight, pooled, classifier_weight = cache
    dclassifier_weight = dlogits.T @ pooled                              # (K, H)
    dclassifier_bias = dlogits.sum(axis=0)                               # (K,)
    dpooled = dlogits @ classifier_weight                                # (B, H)
    dz = dpooled * (1.0 - pooled ** 2)                                   # (B, H) through tanh
    dpooler_weight = dz.T @ cls                                          # (H, H)
    dpooler_bias = dz.sum(axis=0)                                        # (H,)
    dsequence_output = np.zeros(shape, dtype=dz.dtype)                   # (B, T, H)
    dsequence_output[:, 0] = dz @ pooler_weight
    return dsequence_output, dpooler_weight, dpooler_bias, dclassifier_weight, dclassifier_bias
    ### END SOLUTION


# ----------------------------------------------------------------------------------------
# 2. The pieces of the loop


def clip_grad_norm(grads, max_norm):
    """Clip all gradients together, in place, as ``torch.nn.utils.clip_grad_norm_``:

        norm = sqrt(sum over every tensor g in grads of sum(g ** 2))
        g <- g * min(1, max_norm / (norm + 1e-6))          for every g

    grads: dict name -> array. Returns the norm before clipping, as a float.
    """
    ### BEGIN SOLUTION
    # HINT: one norm over every tensor together; scale each tensor in place by the same factor
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    factor = max_norm / (norm + 1e-6)
    if factor < 1.0:
        for g in grads.values():
            g *= factor
    return norm
    ### END SOLUTION


def epoch_batches(n, batch_size, rng):
    """The batches of one epoch: a list of index arrays.

    Shuffle the indices 0 .. n-1 with ``rng`` (a new order each epoch) and cut them into
    batches of ``batch_size``; the last batch holds what is left (it may be smaller).
    Every index appears exactly once.
    """
    ### BEGIN SOLUTION
    # HINT: a random permutation, then consecutive slices of batch_size
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]
    ### END SOLUTION


def take(data, indices):
    """The examples ``indices`` of a data set: a dict of arrays with the same first dimension
    (``input_ids``, ``attention_mask``, ``labels``, ...). Given, not graded."""
    return {key: value[indices] for key, value in data.items()}


def evaluate_accuracy(predict, data, batch_size):
    """The accuracy of a classifier on a data set.

    predict(batch) -> logits (b, K) for a batch (a dict of arrays, see ``take``); data a
    dict of arrays of N examples, with ``data["labels"]`` (N,) the class ids. Score the
    examples in order, ``batch_size`` at a time (the last batch may be smaller): the
    prediction is the argmax of the logits. Returns the fraction right, a float.
    """
    ### BEGIN SOLUTION
    # HINT: consecutive slices of the data; count argmax == label over all of them
    n = len(data["labels"])
    right = 0
    for start in range(0, n, batch_size):
        batch = take(data, np.arange(start, min(start + batch_size, n)))
        logits = predict(batch)
        right += int(np.sum(np.argmax(logits, axis=-1) == batch["labels"]))
    return right / n
    ### END SOLUTION


# ----------------------------------------------------------------------------------------
# 3. The loop


def train_classifier(loss_and_grads, optimizer_step, predict, train_data, eval_data, epochs, batch_size,
                     max_grad_norm, schedule, rng):
    """Fine-tune a classifier; return one record per epoch.

    loss_and_grads(batch) -> (loss, grads): the mean loss of a batch and a dict of
        gradients (the model in training mode).
    optimizer_step(grads, lr): one update of the model's parameters.
    predict(batch) -> logits (b, K) (the model in evaluation mode).
    train_data, eval_data: data sets, dicts of arrays (see ``take``) with "labels".
    schedule(step, total_steps) -> lr, for update number step = 0, 1, ... of the whole run.
    rng: a numpy Generator for the shuffles.

    The run makes total_steps = epochs * ceil(N_train / batch_size) updates. Each epoch:
    for each batch of ``epoch_batches(N_train, batch_size, rng)``, take it from
    train_data, get the loss and gradients, clip the gradients to ``max_grad_norm``
    (``clip_grad_norm``), and call ``optimizer_step`` with ``schedule(step, total_steps)``.
    At the end of each epoch, evaluate on eval_data (``evaluate_accuracy``, batch_size at a
    time) and append ``{"epoch": epoch + 1, "train_loss": mean of the epoch's batch losses,
    "eval_accuracy": accuracy}`` to the history, which is returned.
    """
    ### BEGIN SOLUTION
    # HINT: count the steps of the whole run first; one global step counter; evaluate after each epoch
    n = len(train_data["labels"])
    steps_per_epoch = -(-n // batch_size)                                # ceil
    total_steps = epochs * steps_per_epoch
    step = 0
    history = []
    for epoch in range(epochs):
        losses = []
        for indices in epoch_batches(n, batch_size, rng):
            loss, grads = loss_and_grads(take(train_data, indices))
            clip_grad_norm(grads, max_grad_norm)
            optimizer_step(grads, schedule(step, total_steps))
            step += 1
            losses.append(float(loss))
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "eval_accuracy": evaluate_accuracy(predict, eval_data, batch_size)})
    return history
    ### END SOLUTION
