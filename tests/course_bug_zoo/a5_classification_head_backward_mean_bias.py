"""The classifier's bias gradient averages the batch instead of summing it."""

EXERCISE = "a5.classification_head_backward"
EXPECTED = "dclassifier_bias is off by a factor of"


def classification_head_backward(dlogits, cache):
    shape, cls, pooler_weight, pooled, classifier_weight = cache
    dclassifier_weight = dlogits.T @ pooled
    dclassifier_bias = dlogits.mean(axis=0)                 # the loss's mean is already in dlogits
    dz = (dlogits @ classifier_weight) * (1.0 - pooled ** 2)
    dsequence_output = np.zeros(shape)
    dsequence_output[:, 0] = dz @ pooler_weight
    return dsequence_output, dz.T @ cls, dz.sum(axis=0), dclassifier_weight, dclassifier_bias
