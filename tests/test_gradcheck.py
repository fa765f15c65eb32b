"""Tests of numpy_bert.gradcheck: the tool must pass correct backwards and catch wrong ones."""

import numpy as np
import pytest

from numpy_bert import cli, gradcheck
from numpy_bert import layers as L


def test_relative_error_definition():
    # max|a - n| / max(1e-8, max(|a| + |n|))
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.1]) == pytest.approx(0.1 / 4.1)
    assert gradcheck.relative_error([0.0, -3.0], [0.5, -3.0]) == pytest.approx(0.5 / 6.0)
    assert gradcheck.relative_error([1e-12], [0.0]) == pytest.approx(1e-12 / 1e-8)  # the floor
    assert gradcheck.relative_error([], []) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.relative_error([1.0], [1.0, 2.0])


def test_numerical_gradient_of_a_known_function():
    x = np.array([[0.5, -1.0, 2.0]])
    dout = np.array([[1.0, -2.0, 0.5]])
    got = gradcheck.numerical_gradient(lambda: x ** 3, x, [0, 1, 2], dout, h=1e-5)
    np.testing.assert_allclose(got, (dout * 3 * x ** 2).ravel(), rtol=1e-9)
    np.testing.assert_array_equal(x, [[0.5, -1.0, 2.0]])  # restored


def test_check_layer_passes_a_correct_backward_and_leaves_inputs_alone():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    saved = [x.copy(), w.copy(), b.copy()]
    results = gradcheck.check_layer(L.linear_forward, L.linear_backward, [x, w, b],
                                    names=["x", "weight", "bias"], layer="linear")
    assert [(r.name, r.shape, r.checked) for r in results] == [
        ("x", (3, 4), 12), ("weight", (5, 4), 20), ("bias", (5,), 5)]
    assert all(r.passed and r.rel_error < 1e-8 for r in results)
    for a, s in zip([x, w, b], saved):
        np.testing.assert_array_equal(a, s)


def test_check_layer_catches_wrong_backwards():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6))

    def softmax_backward_missing_term(dout, cache):   # forgets "- sum(dout * out)"
        out, _ = cache
        return dout * out

    def softmax_backward_zero(dout, cache):           # what a sum() upstream cannot catch
        return np.zeros_like(dout)

    for wrong in (softmax_backward_missing_term, softmax_backward_zero):
        [r] = gradcheck.check_layer(L.softmax_forward, wrong, [x], names=["x"])
        assert not r.passed and r.rel_error > 0.1

    def linear_backward_off_by_a_bit(dout, cache):
        dx, dw, db = L.linear_backward(dout, cache)
        return dx, dw * 1.001, db

    w, b = rng.standard_normal((4, 6)), rng.standard_normal(4)
    results = gradcheck.check_layer(L.linear_forward, linear_backward_off_by_a_bit, [x, w, b],
                                    names=["x", "weight", "bias"])
    assert [r.passed for r in results] == [True, False, True]
    assert results[1].rel_error == pytest.approx(0.0005, rel=0.05)


def test_sum_upstream_would_hide_a_softmax_bug():
    # Why check_layer uses a random dout: with dout = 1 the true softmax gradient is 0,
    # so the all-zero "backward" above would look right.
    x = np.random.default_rng(2).standard_normal((4, 5))
    out, cache = L.softmax_forward(x)
    np.testing.assert_allclose(L.softmax_backward(np.ones_like(out), cache), 0.0, atol=1e-15)


def test_sampling_limits_the_entries_checked():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 30))
    [r] = gradcheck.check_layer(L.tanh_forward, L.tanh_backward, [x], names=["x"], max_entries=17)
    assert r.checked == 17 and r.passed


def test_wrong_number_or_shape_of_gradients_is_reported():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="returned 2 gradients for 1 arguments"):
        gradcheck.check_layer(L.tanh_forward, lambda d, c: (d, d), [x])
    with pytest.raises(ValueError, match=r"has shape \(3,\), expected \(2, 3\)"):
        gradcheck.check_layer(L.tanh_forward, lambda d, c: d[0], [x])


def test_float32_inputs_are_refused():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="must be a float64 array"):
        gradcheck.check_layer(L.tanh_forward, L.tanh_backward, [x], names=["x"])


def test_zero_grad_arguments_are_measured_against_the_layer_scale():
    # the key bias of attention has a zero gradient in exact arithmetic
    rng = np.random.default_rng(4)
    args = [rng.standard_normal((2, 3, 6))] + [rng.standard_normal(s) for s in [(6, 6), 6] * 3]
    fwd = lambda *a: L.self_attention_forward(*a, None, 2)  # noqa: E731
    results = gradcheck.check_layer(fwd, L.self_attention_backward, args, zero_grad=(4,))
    assert all(r.passed for r in results)
    assert results[4].note and not results[0].note
    # ...but a non-zero "gradient" for it is still caught
    def wrong(dout, cache):
        g = list(L.self_attention_backward(dout, cache))
        g[4] = g[4] + 0.01
        return tuple(g)
    assert not gradcheck.check_layer(fwd, wrong, args, zero_grad=(4,))[4].passed


def test_run_layer_checks_all_pass_and_cover_every_argument():
    results = gradcheck.run_layer_checks()
    assert all(r.passed for r in results), gradcheck.format_report(results)
    names = {(r.layer, r.name) for r in results}
    for arg in ["x", "q_weight", "q_bias", "k_weight", "k_bias", "v_weight", "v_bias"]:
        assert ("self_attention (mask)", arg) in names
    assert ("layer_norm", "weight") in names and ("embedding", "weight") in names
    assert ("cross_entropy", "logits") in names


def test_report_table():
    results = gradcheck.run_layer_checks(only="layer_norm")
    results[0].rel_error = 0.5
    text = gradcheck.format_report(results)
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "argument", "shape", "checked", "rel", "error", "result", "note"]
    assert lines[2].split() == ["layer_norm", "x", "2x5x12", "40", "5.00e-01", "FAIL"]
    assert lines[-1].startswith("2 of 3 gradients pass") and "1 FAILED" in lines[-1]


def test_cli_gradcheck(capsys):
    assert cli.main(["gradcheck", "--layer", "gelu"]) == 0
    out = capsys.readouterr().out
    assert "gelu_tanh" in out and "pass" in out and "FAIL" not in out
    assert cli.main(["gradcheck", "--layer", "no-such-layer"]) == 1
    assert "no layer matches" in capsys.readouterr().err


def test_cli_gradcheck_fails_on_a_broken_layer(monkeypatch, capsys):
    monkeypatch.setattr(L, "gelu_backward", lambda dout, x: dout * 0.5)
    assert cli.main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 FAILED" in out


def _report_rows(out):
    """(layer, argument, shape, checked, rel error, result) of each row of the CLI's table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer ")) + 2
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        layer, rest = line[:line.index("  ")], line[line.index("  "):].split()
        rows.append((layer, *rest[:5]))
    return rows


def test_cli_gradcheck_entries_tol_and_seed(capsys):
    # --entries: each tensor is checked at min(size, entries) entries
    assert cli.main(["gradcheck", "--layer", "layer_norm", "--entries", "7"]) == 0
    rows = _report_rows(capsys.readouterr().out)
    assert rows
    for layer, name, shape, checked, rel, result in rows:
        size = int(np.prod([int(n) for n in shape.split("x")])) if shape != "scalar" else 1
        assert int(checked) == min(size, 7), (layer, name)
    # --tol: the threshold every row is judged against; a correct backward's float64
    # centred differences agree to about 1e-10 relative, so 1e-30 fails every nonzero error
    assert cli.main(["gradcheck", "--layer", "layer_norm", "--tol", "1e-30"]) == 1
    out = capsys.readouterr().out
    strict = _report_rows(out)
    assert all(r[5] == ("FAIL" if float(r[4]) > 1e-30 else "pass") for r in strict)
    assert any(r[5] == "FAIL" for r in strict) and "(rel error <= 1e-30)" in out
    # --seed: other inputs (other errors), the same seed the same table
    tables = {}
    for seed in ("0", "0", "5"):
        assert cli.main(["gradcheck", "--layer", "layer_norm", "--seed", seed]) == 0
        tables.setdefault(seed, []).append(_report_rows(capsys.readouterr().out))
    assert tables["0"][0] == tables["0"][1]  # same seed, same process: bit for bit
    assert [r[4] for r in tables["0"][0]] != [r[4] for r in tables["5"][0]]
    for bad, message in ((["--entries", "0"], "--entries must be at least 1"), (["--tol", "0"], "--tol must be")):
        assert cli.main(["gradcheck", *bad]) == 1
        assert message in capsys.readouterr().err
