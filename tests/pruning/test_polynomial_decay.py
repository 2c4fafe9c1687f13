import numpy as np
import pytest

from kerasplus.pruning import PolynomialDecay


def tfmot_formula(step, initial, final, begin, end, power, frequency):
    """tfmot's PolynomialDecay.__call__, written out in numpy (float32, as tfmot computes it)."""
    p = np.minimum(np.float32(1.0), np.maximum(np.float32(0.0), np.float32(step - begin) / np.float32(end - begin)))
    sparsity = np.float32(initial - final) * np.float32(1 - p) ** np.float32(power) + np.float32(final)
    update = (begin <= step <= end) and (step - begin) % frequency == 0
    return update, sparsity


ARGUMENTS = [(0.0, 0.9, 0, 100, 3, 10), (0.2, 0.75, 7, 52, 2, 3), (0.5, 0.5, 0, 1, 1, 1), (0.1, 0.6, 3, 9, 0.5, 2)]


@pytest.mark.parametrize("arguments", ARGUMENTS)
def test_values_match_tfmot_formula_at_every_step(arguments):
    schedule = PolynomialDecay(*arguments)
    for step in range(0, arguments[3] + 20):
        update, sparsity = schedule(step)
        expected_update, expected = tfmot_formula(step, *arguments)
        assert bool(update) == expected_update, step
        np.testing.assert_allclose(float(sparsity), expected, rtol=1e-6, atol=1e-7, err_msg=f"step {step}")


def test_values_match_tfmot_schedule_object():
    import tensorflow_model_optimization as tfmot

    for arguments in ARGUMENTS:
        ours = PolynomialDecay(*arguments)
        theirs = tfmot.sparsity.keras.PolynomialDecay(*arguments)
        for step in range(0, arguments[3] + 5):
            update, sparsity = theirs(step)
            assert bool(ours(step)[0]) == bool(update)
            np.testing.assert_allclose(float(ours(step)[1]), float(sparsity), rtol=1e-6, atol=1e-7)


def test_final_sparsity_at_end_step_and_after():
    schedule = PolynomialDecay(0.0, 0.8, begin_step=10, end_step=30, frequency=5)
    assert float(schedule(30)[1]) == pytest.approx(0.8)
    assert float(schedule(300)[1]) == pytest.approx(0.8)
    assert not bool(schedule(35)[0])
    assert float(schedule(5)[1]) == pytest.approx(0.0)


def test_config_is_constructor_arguments():
    schedule = PolynomialDecay(0.1, 0.7, begin_step=2, end_step=20, power=2, frequency=4)
    config = schedule.get_config()
    assert config == dict(initial_sparsity=0.1, final_sparsity=0.7, begin_step=2, end_step=20, power=2, frequency=4)
    assert PolynomialDecay.from_config(config) == schedule


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(initial_sparsity=-0.1), ValueError, r"`initial_sparsity` must be in \[0.0, 1.0\); received"),
        (
            dict(final_sparsity=1.0),
            ValueError,
            r"`final_sparsity` must be in \[0.0, 1.0\); received final_sparsity=1.0",
        ),
        (dict(final_sparsity="0.5"), TypeError, "final_sparsity"),
        (dict(begin_step=-1), ValueError, r"`begin_step` must be an integer >= 0; received begin_step=-1"),
        (dict(begin_step=20, end_step=10), ValueError, r"`end_step` must be >= begin_step; received end_step=10"),
        (dict(end_step=-1), ValueError, r"`end_step` must be an integer >= 0; received end_step=-1"),
        (dict(frequency=0), ValueError, r"`frequency` must be an integer >= 1; received frequency=0"),
        (dict(frequency=2.0), TypeError, "frequency"),
        (dict(power=float("nan")), ValueError, "power"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    arguments = dict(initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=10) | kwargs
    with pytest.raises(error, match=match):
        PolynomialDecay(**arguments)
