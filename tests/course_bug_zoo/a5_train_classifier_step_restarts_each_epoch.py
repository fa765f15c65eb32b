"""The schedule's step counter is the step within the epoch."""

EXERCISE = "a5.train_classifier"
EXPECTED = "the step counter restarts every epoch"


def train_classifier(loss_and_grads, optimizer_step, predict, train_data, eval_data, epochs, batch_size,
                     max_grad_norm, schedule, rng):
    n = len(train_data["labels"])
    total_steps = epochs * (-(-n // batch_size))
    history = []
    for epoch in range(epochs):
        losses = []
        for step, indices in enumerate(epoch_batches(n, batch_size, rng)):   # step restarts at 0
            loss, grads = loss_and_grads(take(train_data, indices))
            clip_grad_norm(grads, max_grad_norm)
            optimizer_step(grads, schedule(step, total_steps))
            losses.append(float(loss))
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "eval_accuracy": evaluate_accuracy(predict, eval_data, batch_size)})
    return history
