"""The head pools the mean of the tokens instead of reading [CLS]."""

EXERCISE = "a5.classification_head_forward"
EXPECTED = "the pooled vector is the mean over the tokens; BERT's pooler reads [CLS] alone (position 0)"
ALSO_AFFECTS = ("a5.classification_head_backward",)


def classification_head_forward(sequence_output, pooler_weight, pooler_bias, classifier_weight, classifier_bias):
    cls = sequence_output.mean(axis=1)                      # not sequence_output[:, 0]
    pooled = np.tanh(cls @ pooler_weight.T + pooler_bias)
    logits = pooled @ classifier_weight.T + classifier_bias
    return logits, (sequence_output.shape, cls, pooler_weight, pooled, classifier_weight)
