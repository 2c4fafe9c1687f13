import numpy as np
import pytest

from kerasplus.pruning import ConstantSparsity


@pytest.mark.parametrize("arguments", [(0.5, 0, -1, 1), (0.9, 3, 20, 4), (0.25, 10, 10, 7), (0.0, 0, -1, 100)])
def test_values_match_tfmot_schedule_object(arguments):
    import tensorflow_model_optimization as tfmot

    ours = ConstantSparsity(*arguments)
    theirs = tfmot.sparsity.keras.ConstantSparsity(*arguments)
    for step in range(0, 40):
        update, sparsity = theirs(step)
        assert bool(ours(step)[0]) == bool(update), step
        np.testing.assert_allclose(float(ours(step)[1]), float(sparsity), rtol=1e-7)


def test_end_step_minus_one_prunes_forever():
    schedule = ConstantSparsity(0.5, begin_step=2, frequency=3)
    assert [step for step in range(30) if bool(schedule(step)[0])] == list(range(2, 30, 3))
    assert bool(schedule(2 + 3 * 10**6)[0])


def test_config_is_constructor_arguments():
    schedule = ConstantSparsity(0.6, begin_step=1, end_step=9, frequency=2)
    assert schedule.get_config() == dict(target_sparsity=0.6, begin_step=1, end_step=9, frequency=2)
    assert ConstantSparsity.from_config(schedule.get_config()) == schedule


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(target_sparsity=1.0), ValueError, r"`target_sparsity` must be in \[0.0, 1.0\); received"),
        (dict(target_sparsity=None), TypeError, "target_sparsity"),
        (dict(end_step=-2), ValueError, r"`end_step` must be an integer >= -1; received end_step=-2"),
        (dict(begin_step=5, end_step=3), ValueError, r"`end_step` must be -1 \(prune forever\) or >= begin_step"),
        (dict(frequency=-3), ValueError, r"`frequency` must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        ConstantSparsity(**(dict(target_sparsity=0.5, begin_step=0) | kwargs))
