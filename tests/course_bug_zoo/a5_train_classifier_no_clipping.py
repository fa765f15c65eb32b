"""The loop never clips the gradients."""

EXERCISE = "a5.train_classifier"
EXPECTED = "clip them (clip_grad_norm) between loss_and_grads and optimizer_step"


def train_classifier(loss_and_grads, optimizer_step, predict, train_data, eval_data, epochs, batch_size,
                     max_grad_norm, schedule, rng):
    n = len(train_data["labels"])
    total_steps = epochs * (-(-n // batch_size))
    step, history = 0, []
    for epoch in range(epochs):
        losses = []
        for indices in epoch_batches(n, batch_size, rng):
            loss, grads = loss_and_grads(take(train_data, indices))
            optimizer_step(grads, schedule(step, total_steps))           # no clip_grad_norm
            step += 1
            losses.append(float(loss))
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "eval_accuracy": evaluate_accuracy(predict, eval_data, batch_size)})
    return history
