"""Small helpers for the property checks of assignments 4 and 5.

``Score`` adds up weighted pass/fail parts into the (fraction, message) pair every check
returns (``common.score`` counts named gradients; these checks test properties of unequal
weight); ``binomial_ok`` says whether a count of random events fits its probability (a
5-sigma band, so a right answer fails about once in 1.7 million gradings);
``module_globals`` gives the namespace of the student's module, through the grader's
tripwire, so that a check can reach the student's other functions (the head's backward is
checked on the cache of the student's own forward).
"""

import math

import numpy as np


class Score:
    """Weighted pass/fail parts of one exercise's check.

        score = Score()
        score.check(2, labels_right, "labels must be the original ids ...")
        return score.result()

    The fraction is the weight of the parts passed over the total weight; the message
    lists the failed parts' messages (the first three), or says "correct" (the message of
    every right answer, as ``common.score`` gives it).
    """

    def __init__(self):
        self.parts = []  # (weight, passed, message)

    def check(self, weight, passed, message):
        passed = bool(passed)
        self.parts.append((float(weight), passed, message))
        return passed

    def failed(self):
        return [message for _, passed, message in self.parts if not passed]

    def result(self):
        total = sum(weight for weight, _, _ in self.parts)
        earned = sum(weight for weight, passed, _ in self.parts if passed)
        failed = self.failed()
        if not failed:
            return 1.0, "correct"
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        return (earned / total if total else 0.0), "; ".join(failed[:3]) + more


def binomial_ok(count, trials, p, sigmas=5.0):
    """Is ``count`` successes in ``trials`` draws within ``sigmas`` standard deviations of p?"""
    sd = math.sqrt(max(p * (1.0 - p), 1e-12) / trials)
    return abs(count / trials - p) <= sigmas * sd + 0.5 / trials


def percent(x):
    return f"{100.0 * x:.0f}%"


def close(a, b, rtol=1e-9, atol=1e-12):
    """float64 comparison of two arrays of the same shape (False for a shape mismatch)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def module_globals(fn):
    """The global namespace of the module that defines ``fn`` (the grader hands checks the
    student's function wrapped in a Tripwire, which keeps it as ``.fn``)."""
    return getattr(getattr(fn, "fn", fn), "__globals__", {})
