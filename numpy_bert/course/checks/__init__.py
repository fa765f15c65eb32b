"""The hidden checks of the course: ``aN.check_<function>(fn, rng) -> (fraction, message)``.

``common`` holds what the checks share: comparison with a reference that says *how* an
answer is wrong (a factor, a sign, a transpose, a shape), float64 gradient checks, and the
message that names the wrong outputs and the right ones.
"""
