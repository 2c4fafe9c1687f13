"""Schedules, LR callbacks, losses and LSUV on Keras's JAX backend (a fresh process each)."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax", reason="the [dev] extra installs jax; this checks the JAX backend")

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json
    import keras, numpy as np
    from keras import ops
    import kerasplus
    from kerasplus.schedules import CyclicLR, OneCycle, Warmup, one_cycle
    from tests.helpers import applied_rates, rate_probe

    out = {"backend": keras.backend.backend()}
    steps = np.arange(120)
    out["one_cycle"] = ops.convert_to_numpy(OneCycle(0.1, 100)(steps)).tolist()
    out["one_cycle_fn"] = ops.convert_to_numpy(one_cycle(steps, max_lr=0.1, total_steps=100)).tolist()
    out["cyclic"] = ops.convert_to_numpy(CyclicLR(0.01, 0.1, 4, mode="exp_range", gamma=0.9)(steps)).tolist()
    out["warmup"] = ops.convert_to_numpy(Warmup(OneCycle(0.1, 100), 10, shape="cos")(steps)).tolist()

    from kerasplus import losses
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(16, 4)) * 5).astype("float32")
    labels = rng.integers(0, 4, size=16)
    multi = (rng.random((16, 4)) > 0.5).astype("float32")
    out["losses"] = [
        float(losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(labels, logits)),
        float(losses.FocalCrossentropy(gamma=2.0, alpha=[1, 2, 3, 4], from_logits=True, sparse=True)(labels, logits)),
        float(losses.BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True)(multi, logits)),
        float(losses.PolyLoss(epsilon=1.0, from_logits=True, sparse=True, ignore_class=3)(labels, logits)),
        float(losses.Quantile(0.3)(multi, logits)),
    ]
    from kerasplus.initializers import lsuv
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    out["lsuv"] = [row["converged"] for row in lsuv(net, rng.normal(size=(32, 6)).astype("float32"), seed=0)]

    from kerasplus import layers as aug
    images = rng.random((8, 6, 5, 3)).astype("float32")
    onehot = np.eye(8, dtype="float32")
    cut = ops.convert_to_numpy(aug.Cutout(2, seed=0)(images, training=True))
    out["cutout_changed"] = bool((cut != images).any()) and cut.shape == images.shape
    sums = []
    for layer in (aug.Mixup(0.2, seed=0), aug.CutMix(1.0, seed=0), aug.MixupOrCutMix(seed=0)):
        mixed, soft = layer((images, onehot), training=True)
        sums.append(float(np.abs(ops.convert_to_numpy(soft).sum(axis=1) - 1.0).max()))
    out["mixing_label_error"] = max(sums)

    model, x, y = rate_probe(24, jit_compile=True, steps_per_execution=8)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0,
              callbacks=[kerasplus.callbacks.OneCycleLR(0.2, cycle_momentum=False)])
    out["applied"] = applied_rates(model).tolist()

    model, x, y = rate_probe(4, optimizer=keras.optimizers.SGD(momentum=0.9))
    try:
        model.fit(x, y, batch_size=1, verbose=0, callbacks=[kerasplus.callbacks.OneCycleLR(0.2)])
    except NotImplementedError as error:
        out["momentum_error"] = str(error)
    print("RESULT " + json.dumps(out))
    """
)


def run_on(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_schedules_callbacks_and_losses_agree_between_jax_and_tensorflow():
    import numpy as np

    jax_out = run_on("jax")
    tf_out = run_on("tensorflow")
    assert jax_out["backend"] == "jax" and tf_out["backend"] == "tensorflow"
    assert jax_out["lsuv"] == [True, True]
    assert jax_out["cutout_changed"] and jax_out["mixing_label_error"] < 1e-6
    for key in ("one_cycle", "one_cycle_fn", "cyclic", "warmup", "applied", "losses"):
        np.testing.assert_allclose(jax_out[key], tf_out[key], rtol=1e-6, err_msg=key)
    expected = np.asarray(tf_out["one_cycle_fn"])
    np.testing.assert_allclose(jax_out["one_cycle"], expected, rtol=1e-6)
    # Momentum cycling is TensorFlow-only and says so instead of doing nothing.
    assert "cycle_momentum=False" in jax_out["momentum_error"]
    assert "momentum_error" not in tf_out
