"""Keras's ``gradient_accumulation_steps=k`` with the kerasplus callbacks.

Keras calls a learning-rate schedule with its batch count (``optimizer._iterations``;
the public ``iterations`` is that // k). The schedule callbacks count updates, as
torch's schedulers stepped once per ``optimizer.step()`` do.
"""

import textwrap

import keras
import numpy as np
import pytest

from kerasplus.callbacks import BackupAndRestore, CyclicLR, LRFinder, NaNGuard, OneCycleLR, WarmupLR, lr_find
from kerasplus.diagnostics import lint
from tests.callbacks.test_one_cycle_lr import scalar_model, sgd_momentum_by_hand
from tests.helpers import applied_rates, rate_probe, run_script_on, torch_curve


def accumulating_sgd(k, momentum=0.0):
    return keras.optimizers.SGD(1.0, momentum=momentum, gradient_accumulation_steps=k)


def rates_per_update(model, k):
    """The rate of each update: batch u*k..u*k+k-1 are e_i rows, each written -lr_u / k."""
    rates = applied_rates(model) * k
    groups = rates.reshape(-1, k)
    np.testing.assert_array_equal(groups, np.repeat(groups[:, :1], k, axis=1))  # one update per group
    return groups[:, 0]


@pytest.mark.parametrize("k", [3])
def test_one_cycle_lr_counts_updates_and_matches_torch_at_every_update(k):
    batches = 12 * k
    model, x, y = rate_probe(batches, accumulating_sgd(k))
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[OneCycleLR(0.4, cycle_momentum=False)])
    expected, _ = torch_curve("OneCycleLR", 12, max_lr=0.4, total_steps=12)
    np.testing.assert_allclose(rates_per_update(model, k), expected[:12], rtol=1e-6)
    assert int(model.optimizer.iterations) == 12


@pytest.mark.parametrize(
    "make_callback",
    [
        lambda: CyclicLR(0.01, 0.3, step_size_up=3, cycle_momentum=False),
        lambda: WarmupLR(warmup_steps=5),
        lambda: OneCycleLR(0.4, total_steps=10, cycle_momentum=False),
    ],
    ids=["CyclicLR", "WarmupLR", "OneCycleLR-total_steps"],
)
def test_schedule_callbacks_give_update_u_the_rate_of_step_u(make_callback):
    updates, k = 10, 2
    # Reference: the same callback without accumulation, one batch per update (tested against torch elsewhere).
    reference, x, y = rate_probe(updates, keras.optimizers.SGD(1.0))
    reference.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[make_callback()])
    model, x, y = rate_probe(updates * k, accumulating_sgd(k))
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[make_callback()])
    np.testing.assert_allclose(rates_per_update(model, k), applied_rates(reference), rtol=1e-6)


def test_momentum_cycling_under_accumulation_equals_torch_one_cycle_on_the_mean_gradients():
    updates, k = 8, 3
    gradients = np.random.default_rng(0).uniform(0.5, 2.0, size=(updates * k, 1)).astype("float32")
    rates, momenta = torch_curve(
        "OneCycleLR", updates, total_steps=updates, max_lr=0.05, base_momentum=0.6, max_momentum=0.95
    )
    model = scalar_model(keras.optimizers.SGD(0.01, momentum=0.9, gradient_accumulation_steps=k))
    callback = OneCycleLR(0.05, base_momentum=0.6, max_momentum=0.95)
    model.fit(gradients, np.zeros_like(gradients), batch_size=1, shuffle=False, verbose=0, callbacks=[callback])
    mean_gradients = gradients[:, 0].astype(np.float64).reshape(updates, k).mean(axis=1)
    expected = sgd_momentum_by_hand(mean_gradients, rates, momenta)
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(expected, rel=1e-5)


def test_a_fit_whose_batches_k_does_not_divide_warns_and_the_cycle_covers_the_whole_updates():
    model, x, y = rate_probe(9, accumulating_sgd(2))
    with pytest.warns(UserWarning, match=r"gradient_accumulation_steps=2.*the last 1 batches.*4 updates"):
        model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[OneCycleLR(0.4, cycle_momentum=False)])
    expected, _ = torch_curve("OneCycleLR", 4, max_lr=0.4, total_steps=4)
    applied = applied_rates(model) * 2
    np.testing.assert_allclose(applied[:8:2], expected[:4], rtol=1e-6)
    assert applied[8] == 0  # the ninth batch is only accumulated


def test_lr_finder_refuses_an_accumulating_optimizer_and_lr_find_restores_the_model():
    model, x, y = rate_probe(8, accumulating_sgd(2))
    with pytest.raises(ValueError, match=r"LRFinder: the optimizer has gradient_accumulation_steps=2.*batch size 2"):
        model.fit(x, y, batch_size=1, verbose=0, callbacks=[LRFinder(num_steps=4)])
    before = [keras.ops.convert_to_numpy(w) for w in model.optimizer.variables]
    with pytest.raises(ValueError, match="gradient_accumulation_steps=2"):
        lr_find(model, x, y, num_steps=4, batch_size=1)
    for a, b in zip(before, model.optimizer.variables):
        np.testing.assert_array_equal(a, np.asarray(b))


# ---------------------------------------------------------------- NaNGuard, BackupAndRestore
def mlp(k=2, seed=1, **compile_kwargs):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01, gradient_accumulation_steps=k), "mse", **compile_kwargs)
    return model


def regression(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, :2].sum(axis=1, keepdims=True) ** 2).astype("float32")


def assert_same_state(a, b):
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)
    assert len(a.optimizer.variables) == len(b.optimizer.variables)
    for p, q in zip(a.optimizer.variables, b.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


@pytest.mark.parametrize(
    "poisoned, jit_compile", [(1, True), (2, False)], ids=["update-batch-xla", "accumulating-batch-no-xla"]
)
def test_nan_guard_skips_a_batch_inside_an_accumulation_as_if_it_was_not_there(poisoned, jit_compile):
    # Without XLA, TensorFlow's relu maps NaN to 0: batch 2's loss is finite and only the
    # gradient it adds to the accumulators is NaN (no weight changes between updates).
    x, y = regression()
    bad = x.copy()
    bad[4 * poisoned : 4 * poisoned + 4] = np.nan
    guarded = mlp(jit_compile=jit_compile)
    guard = NaNGuard()
    guarded.fit(bad, y, batch_size=4, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.failures == 1
    kept = np.r_[0 : 4 * poisoned, 4 * poisoned + 4 : 40]
    reference = mlp(jit_compile=jit_compile)
    reference.fit(x[kept], y[kept], batch_size=4, shuffle=False, verbose=0)
    assert_same_state(guarded, reference)


class Interrupted(Exception):
    pass


class InterruptAtBatch(keras.callbacks.Callback):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            raise Interrupted


def test_backup_and_restore_resumes_in_the_middle_of_an_accumulation_bit_exact(tmp_path):
    x, y = regression()

    def fit(model, callbacks):
        return model.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0, callbacks=callbacks)

    reference = mlp(k=2)
    fit(reference, [OneCycleLR(0.05)])
    with pytest.raises(Interrupted):  # saved after batches 3 and 6; dies at 5: resumes from 3, one batch accumulated
        fit(
            interrupted := mlp(k=2),
            [OneCycleLR(0.05), BackupAndRestore(tmp_path, save_freq=3, async_save=False), InterruptAtBatch(5)],
        )
    saved = np.load(tmp_path / "ckpt-00000000.npz")
    positions = [i for i, x in enumerate(interrupted.optimizer.variables) if "gradient_accumulator" in x.path]
    assert len(positions) == 4  # mid-accumulation: the accumulators are saved, holding batch 2's gradient
    assert all(np.abs(saved[f"optimizer/{i}"]).sum() > 0 for i in positions)
    resumed = mlp(k=2)
    backup = BackupAndRestore(tmp_path, save_freq=3)
    fit(resumed, [OneCycleLR(0.05), backup])
    assert backup.restored_from.endswith("ckpt-00000000.npz")
    assert_same_state(resumed, reference)


# ---------------------------------------------------------------- MirroredStrategy (TensorFlow)
MIRRORED = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from kerasplus.callbacks import BackupAndRestore, NaNGuard, OneCycleLR, WarmupLR
    from kerasplus.diagnostics import lint

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = np.ones((32, 4), "float32"), np.ones((32, 1), "float32")
    def make():
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile(keras.optimizers.SGD(0.1, gradient_accumulation_steps=2), "mse")
        return model
    out = {}
    model = make()
    out["lint"] = [[f.rule, str(f)] for f in lint(model)]
    try:  # Keras alone: its accumulation's cond holds a merge_call (keras-team/keras#20582)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        out["keras"] = "ok"
    except Exception as error:
        out["keras"] = type(error).__name__ + ": " + str(error)[:300]
    for name, make_callback in [
        ("OneCycleLR", lambda: OneCycleLR(0.1)),
        ("WarmupLR", lambda: WarmupLR(warmup_steps=2)),
        ("NaNGuard", lambda: NaNGuard()),
        ("BackupAndRestore", lambda: BackupAndRestore(__import__("tempfile").mkdtemp())),
    ]:
        model = make()
        try:
            model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[make_callback()])
            out[name] = "ok"
        except ValueError as error:
            out[name] = str(error)
        out[name + "_steps"] = int(model.optimizer._iterations.numpy())
    print("RESULT " + json.dumps(out))
    """
)


def test_under_mirrored_strategy_the_callbacks_refuse_before_training_naming_the_fix():
    out = run_script_on("tensorflow", MIRRORED)
    assert "merge_call" in out["keras"]  # upstream: remove this refusal when Keras runs it
    assert [rule for rule, _ in out["lint"]] == ["accumulation-under-tf-distribution"]
    for name in ("OneCycleLR", "WarmupLR", "NaNGuard", "BackupAndRestore"):
        assert out[name].startswith(f"{name}: error [accumulation-under-tf-distribution]"), out[name]
        assert "gradient_accumulation_steps=2" in out[name] and "MirroredStrategy" in out[name]
        assert "multiply the global batch size by 2" in out[name]
        assert out[name + "_steps"] == 0  # refused before the first step


def test_lint_finds_no_accumulation_problem_without_a_strategy_or_under_one_device_strategy():
    import tensorflow as tf

    model = mlp(k=2)
    assert [f.rule for f in lint(model)] == []
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        model = mlp(k=2)
    assert [f.rule for f in lint(model)] == []
    x, y = regression(40)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[OneCycleLR(0.05), NaNGuard()])  # Keras runs it there
    assert int(model.optimizer.iterations) == 5


# ---------------------------------------------------------------- JAX and PyTorch
OTHER_BACKENDS = textwrap.dedent(
    """
    import json, keras, numpy as np
    from kerasplus.callbacks import NaNGuard, OneCycleLR
    from tests.helpers import applied_rates, rate_probe
    out = {}
    model, x, y = rate_probe(12, keras.optimizers.SGD(1.0, gradient_accumulation_steps=2))
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[OneCycleLR(0.4, cycle_momentum=False)])
    out["rates"] = (applied_rates(model) * 2).tolist()

    def mlp():
        keras.utils.set_random_seed(1)
        m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        m.compile(keras.optimizers.Adam(0.01, gradient_accumulation_steps=2), "mse")
        return m
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = (x[:, :2].sum(axis=1, keepdims=True) ** 2).astype("float32")
    bad = x.copy()
    bad[8:12] = np.inf  # batch 2: the first of an accumulation
    guarded, guard = mlp(), NaNGuard()
    guarded.fit(bad, y, batch_size=4, shuffle=False, verbose=0, callbacks=[guard])
    kept = np.r_[0:8, 12:40]
    reference = mlp()
    reference.fit(x[kept], y[kept], batch_size=4, shuffle=False, verbose=0)
    pairs = list(zip(guarded.get_weights(), reference.get_weights()))
    pairs += [(np.asarray(a), np.asarray(b)) for a, b in zip(guarded.optimizer.variables, reference.optimizer.variables)]
    out["failures"] = guard.failures
    out["same"] = all(np.array_equal(a, b) for a, b in pairs)
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_schedule_and_nan_guard_count_updates_on_jax_and_torch(backend):
    out = run_script_on(backend, OTHER_BACKENDS)
    expected, _ = torch_curve("OneCycleLR", 6, max_lr=0.4, total_steps=6)
    np.testing.assert_allclose(np.asarray(out["rates"])[::2], expected[:6], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["rates"])[1::2], expected[:6], rtol=1e-6)
    assert out["failures"] == 1 and out["same"]
