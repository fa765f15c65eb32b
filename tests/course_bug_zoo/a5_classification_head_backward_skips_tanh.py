"""The pooler's backward forgets tanh's derivative 1 - pooled^2."""

EXERCISE = "a5.classification_head_backward"
EXPECTED = "dpooler_weight skips the tanh: multiply dpooled by 1 - pooled^2 first"


def classification_head_backward(dlogits, cache):
    shape, cls, pooler_weight, pooled, classifier_weight = cache
    dclassifier_weight = dlogits.T @ pooled
    dclassifier_bias = dlogits.sum(axis=0)
    dz = dlogits @ classifier_weight                        # no * (1 - pooled ** 2)
    dsequence_output = np.zeros(shape)
    dsequence_output[:, 0] = dz @ pooler_weight
    return dsequence_output, dz.T @ cls, dz.sum(axis=0), dclassifier_weight, dclassifier_bias
