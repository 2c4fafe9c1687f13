import keras
import numpy as np
import tensorflow as tf

from kerasplus.distribute import fix_multi_worker_fit

# The fix itself is exercised with two worker processes in test_matrix.py
# (test_multi_worker_two_processes_matches_default_strategy and the upstream
# failure it works around); here: it is idempotent and leaves other strategies alone.


def test_idempotent_and_other_strategies_train_as_before():
    from keras.src.backend.tensorflow import trainer

    assert fix_multi_worker_fit() is True
    patched = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica
    assert fix_multi_worker_fit() is True
    assert (trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica) == patched

    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")

    def train(strategy):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            model.compile(keras.optimizers.SGD(0.1), "mse")
        model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, shuffle=False)
        return model.get_weights()

    one_device = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    default = train(tf.distribute.get_strategy())
    for a, b in zip(one_device, default):
        np.testing.assert_allclose(a, b, rtol=1e-6)
