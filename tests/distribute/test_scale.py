from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.distribute import ReplicaScaling, scale_for_replicas
from kerasplus.schedules import Warmup


def replicas(n):
    """Anything with num_replicas_in_sync stands for a strategy (32 GPUs are not here)."""
    return SimpleNamespace(num_replicas_in_sync=n)


def test_goyal_resnet50_numbers():
    # Goyal et al. 2017: lr 0.1 for a batch of 256; k = 32 workers of 256 -> 8k, lr 3.2.
    scaling = scale_for_replicas(256, 0.1, replicas(32))
    assert scaling == ReplicaScaling(global_batch_size=8192, learning_rate=pytest.approx(3.2), replicas=32)


@pytest.mark.parametrize("n", [1, 2, 8])
def test_rate_grows_linearly_with_the_replicas(n):
    scaling = scale_for_replicas(32, 0.05, replicas(n))
    assert scaling.global_batch_size == 32 * n
    assert scaling.learning_rate == pytest.approx(0.05 * n)


def test_base_batch_size_is_the_batch_the_rate_was_tuned_at():
    # Tuned at 256; 4 replicas of 64 make 256 again: the rate stays.
    assert scale_for_replicas(64, 0.1, replicas(4), base_batch_size=256).learning_rate == pytest.approx(0.1)
    assert scale_for_replicas(64, 0.1, replicas(8), base_batch_size=256).learning_rate == pytest.approx(0.2)


def test_reads_the_current_strategy():
    assert scale_for_replicas(16, 0.1).replicas == 1  # default strategy
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert scale_for_replicas(16, 0.1) == (16, pytest.approx(0.1), 1)


def test_pairs_with_warmup_as_in_the_paper():
    # Gradual warm-up: from base_lr to k * base_lr linearly over the warm-up steps, then the schedule.
    base_lr, warmup_steps = 0.1, 10
    scaling = scale_for_replicas(32, base_lr, replicas(8))
    schedule = Warmup(scaling.learning_rate, warmup_steps=warmup_steps, warmup_init_lr=base_lr)
    steps = np.arange(2 * warmup_steps)
    got = np.array([float(schedule(s)) for s in steps])
    expected = np.where(
        steps < warmup_steps, base_lr + (scaling.learning_rate - base_lr) * steps / warmup_steps, scaling.learning_rate
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
    assert float(optimizer.learning_rate) == pytest.approx(base_lr)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        (
            (0, 0.1),
            {},
            ValueError,
            "`per_replica_batch_size` must be an integer >= 1; received per_replica_batch_size=0",
        ),
        ((-8, 0.1), {}, ValueError, "`per_replica_batch_size` must be an integer >= 1"),
        ((8.0, 0.1), {}, TypeError, "`per_replica_batch_size` must be an integer"),
        ((8, 0.0), {}, ValueError, "`base_lr` must be > 0"),
        ((8, 0.1), dict(base_batch_size=0), ValueError, "`base_batch_size` must be an integer >= 1"),
        ((8, 0.1, "mirrored"), {}, TypeError, "`strategy` must be a tf.distribute.Strategy"),
        ((8, 0.1, replicas(0)), {}, TypeError, "num_replicas_in_sync >= 1"),
    ],
)
def test_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        scale_for_replicas(*args, **kwargs)
