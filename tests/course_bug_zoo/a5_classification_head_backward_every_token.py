"""The [CLS] gradient is broadcast to every position of the sequence."""

EXERCISE = "a5.classification_head_backward"
EXPECTED = "dsequence_output is non-zero at positions other than 0: only [CLS] feeds the pooler"


def classification_head_backward(dlogits, cache):
    shape, cls, pooler_weight, pooled, classifier_weight = cache
    dclassifier_weight = dlogits.T @ pooled
    dclassifier_bias = dlogits.sum(axis=0)
    dz = (dlogits @ classifier_weight) * (1.0 - pooled ** 2)
    dsequence_output = np.broadcast_to((dz @ pooler_weight)[:, None, :], shape).copy()   # every token
    return dsequence_output, dz.T @ cls, dz.sum(axis=0), dclassifier_weight, dclassifier_bias
