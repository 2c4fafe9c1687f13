"""`replica_count`, and what reads it: `scale_for_replicas`, `check_batch_size`, `lint` (JAX, DataParallel)."""

from types import SimpleNamespace

import pytest

from kerasplus.distribute import replica_count
from tests.distribute.jax_child import run_jax

CODE = """
import keras, numpy as np
import kerasplus
from kerasplus.distribute import auto_distribution, check_batch_size, replica_count, scale_for_replicas

def error(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None

def bn_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model

out = {"none": replica_count()}
out["lint_none"] = [f.rule for f in kerasplus.diagnostics.lint(bn_model(), batch_size=32)]
distribution = auto_distribution()
out["explicit"] = replica_count(distribution)
out["scale_explicit"] = scale_for_replicas(16, 0.1, distribution)._asdict()
with distribution.scope():
    out["scoped"] = replica_count()
    out["scale"] = scale_for_replicas(16, 0.1)._asdict()
    model = bn_model()
    out["lint"] = [f.message for f in kerasplus.diagnostics.lint(model, batch_size=32)]
    out["check"] = check_batch_size(32, examples=64)
    out["check_error"] = error(check_batch_size, 30)
    out["last_batch_error"] = error(check_batch_size, 16, examples=60)
    x, y = np.ones((60, 4), "float32"), np.ones((60, 1), "float32")
    out["upstream_fit"] = error(model.fit, x, y, batch_size=16, epochs=1, verbose=0)  # last batch: 12 over 8
    out["steps_before_failure"] = int(model.optimizer.iterations.numpy())
mesh = keras.distribution.DeviceMesh((4, 2), ["batch", "model"], keras.distribution.list_devices())
out["model_parallel"] = replica_count(keras.distribution.ModelParallel(
    layout_map=keras.distribution.LayoutMap(mesh), batch_dim_name="batch"))
"""


@pytest.fixture(scope="module")
def result():
    return run_jax(CODE, devices=8)


def test_reads_the_active_distribution_on_jax(result):
    assert result["none"] == 1
    assert result["explicit"] == result["scoped"] == 8
    assert result["model_parallel"] == 4  # the batch axis of a (4, 2) mesh


def test_scale_for_replicas_reads_data_parallel(result):
    # Goyal et al.: 8 replicas of 16 -> a global batch of 128, 8x the rate.
    for scale in (result["scale"], result["scale_explicit"]):
        assert scale == {"global_batch_size": 128, "learning_rate": pytest.approx(0.8), "replicas": 8}


def test_lint_sees_the_per_replica_batch_under_data_parallel(result):
    assert "batchnorm-small-batch" not in result["lint_none"]  # 32 on one device is fine
    assert any("normalizes over batches of 4 (32 over 8 replicas)" in m for m in result["lint"]), result["lint"]


def test_check_batch_size_refuses_before_training_what_fit_fails_on_later(result):
    assert result["check"] == 4
    assert result["check_error"].startswith("ValueError: `batch_size`=30 does not split evenly over the 8 replicas")
    assert result["last_batch_error"].startswith("ValueError: `examples`=60 with `batch_size`=16 leaves a last batch")
    # Without the check: Keras trains 3 steps and fails on the epoch's last batch (12 examples over 8 devices).
    assert "IndivisibleError" in result["upstream_fit"] or "evenly divide" in result["upstream_fit"]
    assert result["steps_before_failure"] == 3


def test_strategies_and_fakes_on_tensorflow():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("reads tf.distribute")
    import tensorflow as tf

    assert replica_count() == 1
    assert replica_count(SimpleNamespace(num_replicas_in_sync=3)) == 3
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert replica_count() == 1
    with pytest.raises(TypeError, match="`strategy` must be a tf.distribute.Strategy or a keras.distribution"):
        replica_count("mirrored")
