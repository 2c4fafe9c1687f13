import json
import pickle

import numpy as np
import pytest
import tensorflow as tf

from kerasplus.callbacks._scheduled_scalar import ScheduledScalar


def test_arithmetic_uses_the_scheduled_value_and_comparisons_the_base():
    scalar = ScheduledScalar(0.9, lambda: tf.constant(0.5))
    assert float(1 - scalar) == 0.5 and float(scalar * 4) == 2.0 and float(2 / scalar) == 4.0
    assert float(tf.cast(scalar, tf.float16)) == 0.5
    assert scalar > 0.8 and scalar != 0  # structural checks see the base value
    assert json.dumps({"beta_1": scalar}) == '{"beta_1": 0.9}'
    restored = pickle.loads(pickle.dumps(scalar))
    assert type(restored) is float and restored == 0.9


def test_value_is_computed_once_per_traced_graph():
    calls = []
    step = tf.Variable(0, dtype=tf.int64)

    def compute():
        calls.append(1)
        return tf.cast(step, tf.float32) / 10.0

    scalar = ScheduledScalar(0.9, compute)

    @tf.function
    def update():
        return [tf.cast(scalar, tf.float32) * k for k in range(6)]

    np.testing.assert_allclose(update(), [0.0] * 6)
    step.assign(5)
    np.testing.assert_allclose(update(), [0.5 * k for k in range(6)])
    assert len(calls) == 1  # six reads, one trace, one computation


def test_eager_reads_follow_the_step():
    step = tf.Variable(1.0)
    scalar = ScheduledScalar(0.9, lambda: step * 0.1)
    assert float(scalar + 0) == pytest.approx(0.1)
    step.assign(3.0)
    assert float(scalar + 0) == pytest.approx(0.3)
