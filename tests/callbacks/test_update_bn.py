import keras
import numpy as np
import pytest

from kerasplus.callbacks import update_bn


def data(n=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype("float32")


def test_update_bn_averages_batch_statistics_and_skips_frozen_layers():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(30, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(), keras.layers.BatchNormalization()])
    model.layers[1].trainable = False
    assert update_bn(model, (x, np.zeros(30)), batch_size=8) == 4
    batches = [x[i : i + 8] for i in range(0, 30, 8)]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].moving_mean), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].moving_variance), np.mean([b.var(0) for b in batches], 0), rtol=1e-5
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[1].moving_mean), 0.0)
    assert update_bn(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), x) == 0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(model="net"), TypeError, "`model` must be a keras.Model"),
        (dict(data=5), TypeError, "`data` must be an array, a tf.data.Dataset or an iterable"),
        (dict(data=[]), ValueError, "`data` must hold at least one batch"),
        (dict(batch_size=0), ValueError, "`batch_size` must be an integer >= 1"),
    ],
)
def test_update_bn_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(model=keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()]), data=data())
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        update_bn(**arguments)
