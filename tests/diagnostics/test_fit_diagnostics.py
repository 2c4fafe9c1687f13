"""FitDiagnostics on models built to fail in a known way, and its probes against references."""

import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.diagnostics import FitDiagnostics, _probes
from tests.helpers import run_script_on


def circles(n, seed):
    """Points in [-1, 1]^2, label 1 inside the circle r^2 < 0.45: not linearly separable."""
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, 2)).astype("float32")
    y = (np.sum(x**2, axis=1, keepdims=True) < 0.45).astype("float32")
    return x, y


def mlp(inputs, widths, activation, out_activation="sigmoid", **dense_kwargs):
    layers = [keras.Input((inputs,))]
    layers += [keras.layers.Dense(w, activation=activation, **dense_kwargs) for w in widths]
    layers += [keras.layers.Dense(1, activation=out_activation)]
    return keras.Sequential(layers)


def fit(model, x, y, diagnostics, epochs, batch_size, validation=None):
    return model.fit(
        x,
        y,
        validation_data=validation,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
        callbacks=[diagnostics],
    )


def test_linear_model_on_circles_underfits():
    x, y = circles(256, 0)
    model = mlp(2, [], None)
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=4)
    fit(model, x, y, diagnostics, epochs=8, batch_size=64, validation=circles(256, 1))
    assert diagnostics.baseline_source == "constant prediction"
    assert [r["verdict"] for r in diagnostics.records] == ["underfitting"] * 8
    assert "underfitting" in diagnostics.report()


def test_mlp_on_circles_is_a_good_fit_with_no_gradient_flags():
    x, y = circles(256, 0)
    model = mlp(2, [32, 32], "relu", kernel_initializer="he_normal")
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=4)
    history = fit(model, x, y, diagnostics, epochs=12, batch_size=32, validation=circles(256, 1))
    assert diagnostics.verdict == "good fit", diagnostics.report()
    assert history.history["loss"][-1] < 0.5 * diagnostics.baseline
    last = diagnostics.records[-1]
    assert last["vanishing"] == [] and last["exploding"] == []


def test_large_mlp_on_32_noisy_samples_overfits():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 10)).astype("float32"), rng.integers(0, 2, (32, 1)).astype("float32")
    x_val, y_val = rng.normal(size=(128, 10)).astype("float32"), rng.integers(0, 2, (128, 1)).astype("float32")
    model = mlp(10, [256, 256], "relu")
    model.compile(keras.optimizers.Adam(0.003), "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=1)
    fit(model, x, y, diagnostics, epochs=10, batch_size=32, validation=(x_val, y_val))
    verdicts = [r["verdict"] for r in diagnostics.records]
    assert verdicts[-1] == "overfitting", diagnostics.report()
    assert "overfitting" not in verdicts[:3]  # needs `patience` epochs of rise after the best


def test_30_layer_sigmoid_mlp_has_vanishing_gradients_in_its_first_layers():
    x, y = circles(128, 0)
    model = mlp(2, [16] * 30, "sigmoid")
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=2)
    history = fit(model, x, y, diagnostics, epochs=1, batch_size=32)
    last = diagnostics.records[-1]
    names = [layer.name for layer in model.layers]
    assert set(names[:10]) <= set(last["vanishing"]), diagnostics.report()
    assert names[-1] not in last["vanishing"] and last["exploding"] == []
    assert history.history["diag_vanishing_layers"][-1] == len(last["vanishing"]) >= 10
    assert "vanishing gradients in" in diagnostics.report()


def test_too_high_learning_rate_diverges_to_nan_and_flags_exploding_gradients():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=1)
    fit(model, x, y, diagnostics, epochs=2, batch_size=32)
    assert diagnostics.verdict == "diverging"
    assert diagnostics.records[-1]["exploding"]


def test_a_learning_rate_past_the_stability_limit_diverges_while_the_loss_is_finite():
    # Linear least squares: SGD is stable for lr < 2 / lambda_max(2 X^T X / n) ~ 1 here.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.3), "mse")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=None)
    history = fit(model, x, y, diagnostics, epochs=4, batch_size=256)
    assert np.isfinite(history.history["loss"]).all()
    assert diagnostics.verdict == "diverging", diagnostics.report()
    # The same model at a stable rate is judged a good fit.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.3), "mse")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=None)
    fit(model, x, y, diagnostics, epochs=4, batch_size=32)
    assert diagnostics.verdict == "good fit", diagnostics.report()


def test_gradient_norms_equal_the_update_of_one_plain_sgd_step():
    x, y = circles(64, 0)
    model = mlp(2, [8, 8], "tanh")
    model.compile(keras.optimizers.SGD(1.0), "binary_crossentropy")
    layers = _probes.weighted_layers(model)
    norms = _probes.layer_gradient_norms(model, x, y, layers)
    before = [[w.numpy() for w in layer.trainable_weights] for layer in layers]
    model.train_on_batch(x, y)  # Keras's own step: w <- w - 1.0 * grad
    for layer, old in zip(layers, before):
        step = np.sqrt(sum(np.sum((w.numpy() - o) ** 2) for w, o in zip(layer.trainable_weights, old)))
        np.testing.assert_allclose(norms[layer.name], step, rtol=1e-4)


def test_dead_relu_share_matches_numpy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 3)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(10, activation="relu"),
            keras.layers.Dense(6),
            keras.layers.ReLU(),
            keras.layers.Dense(1),
        ]
    )
    kernel, bias = model.layers[0].get_weights()
    bias[:4] = -100.0  # four units never fire
    model.layers[0].set_weights([kernel, bias])
    names, probe = _probes.relu_outputs(model)
    share, per_layer = _probes.dead_relu_fractions(probe, names, x)
    w1, b1, w2, b2 = model.get_weights()[:4]
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    dead1, dead2 = (h1.max(axis=0) <= 0), (h2.max(axis=0) <= 0)
    assert dead1.sum() >= 4
    assert per_layer[model.layers[0].name] == pytest.approx(dead1.mean())
    assert per_layer[model.layers[2].name] == pytest.approx(dead2.mean())
    assert share == pytest.approx((dead1.sum() + dead2.sum()) / 16)


@pytest.mark.parametrize(
    "loss, y, expected",
    [
        ("binary_crossentropy", np.array([[1.0], [0.0], [0.0], [0.0]]), -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))),
        ("mse", np.array([[1.0], [3.0], [5.0], [7.0]]), 5.0),  # variance of the targets
        ("sparse_categorical_crossentropy", np.array([0, 0, 1, 2]), -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))),
    ],
)
def test_baseline_is_the_loss_of_the_best_constant_prediction(loss, y, expected):
    classes = 3 if loss.startswith("sparse") else 1
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(classes, activation="softmax" if classes > 1 else None)]
    )
    model.compile("sgd", loss)
    x = np.zeros((len(y), 2), "float32")
    assert _probes.constant_baseline(model, y, model(x)) == pytest.approx(expected, rel=1e-4)


def test_baseline_with_from_logits_uses_log_prior():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", keras.losses.BinaryCrossentropy(from_logits=True))
    y = np.array([[1.0], [1.0], [1.0], [0.0]], "float32")
    expected = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert _probes.constant_baseline(model, y, model(np.zeros((4, 2), "float32"))) == pytest.approx(expected, rel=1e-4)


def test_probes_leave_the_training_run_unchanged():
    """Gradient and dead-ReLU probes run with training=False: BatchNorm statistics, dropout
    seeds and weights end bit-identical to a run without the callback."""
    x, y = circles(128, 0)

    def run(with_diagnostics):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Dropout(0.3, seed=1),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
        callbacks = [FitDiagnostics(held_batch=(x[:32], y[:32]), gradient_every=1)] if with_diagnostics else []
        model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0, callbacks=callbacks)
        return model.get_weights()

    for with_probe, without in zip(run(True), run(False)):
        np.testing.assert_array_equal(with_probe, without)


def test_values_go_into_logs_history_and_tensorboard(tmp_path):
    x, y = circles(64, 0)
    model = mlp(2, [8], "relu")
    model.compile("adam", "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=1, log_per_layer=True)
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=32,
        verbose=0,
        callbacks=[diagnostics, keras.callbacks.TensorBoard(str(tmp_path))],
    )
    keys = {
        "diag_verdict",
        "diag_grad_norm_min",
        "diag_grad_norm_max",
        "diag_vanishing_layers",
        "diag_exploding_layers",
        "diag_dead_relu",
        f"diag_grad_norm/{model.layers[0].name}",
    }
    assert keys <= set(history.history)
    assert history.history["diag_grad_norm_max"][-1] == max(diagnostics.records[-1]["grad_norms"].values())
    tags = set()
    for path in glob.glob(str(tmp_path / "train" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    assert {"epoch_diag_verdict", "epoch_diag_dead_relu"} <= tags


def test_gradient_every_counts_batch_ends():
    x, y = circles(64, 0)
    model = mlp(2, [4], "relu")
    model.compile("sgd", "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=3)
    fit(model, x, y, diagnostics, epochs=2, batch_size=8)  # 8 batch ends per epoch
    assert [step for step, _ in diagnostics.gradient_samples] == [0, 3, 6, 9, 12, 15]
    assert [r["grad_step"] for r in diagnostics.records] == [6, 15]


def test_state_round_trip_continues_the_curves():
    x, y = circles(64, 0)
    model = mlp(2, [8], "relu")
    model.compile("adam", "binary_crossentropy")
    first = FitDiagnostics(held_batch=(x, y), gradient_every=2)
    fit(model, x, y, first, epochs=2, batch_size=16)
    second = FitDiagnostics(held_batch=(x, y), gradient_every=2)
    second.set_state(first.get_state())
    model.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0, callbacks=[second])
    assert [r["epoch"] for r in second.records] == [1, 2, 3, 4]
    assert second.records[:2] == first.records
    assert second.baseline == first.baseline


def test_without_a_held_batch_only_verdicts_are_given():
    x, y = circles(64, 0)
    model = mlp(2, [], None)
    model.compile("adam", "binary_crossentropy")
    diagnostics = FitDiagnostics()
    history = fit(model, x, y, diagnostics, epochs=2, batch_size=32)
    assert diagnostics.baseline is None and diagnostics.gradient_samples == []
    assert "diag_verdict" in history.history and "diag_grad_norm_max" not in history.history


def test_get_config_returns_the_constructor_arguments():
    config = FitDiagnostics(gradient_every=7, patience=2, underfit_ratio=0.3).get_config()
    assert FitDiagnostics(**config).get_config() == config
    assert config["gradient_every"] == 7 and config["patience"] == 2 and config["underfit_ratio"] == 0.3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(gradient_every=0), ValueError, "gradient_every"),
        (dict(underfit_ratio=0.0), ValueError, "underfit_ratio"),
        (dict(underfit_ratio=1.5), ValueError, "underfit_ratio"),
        (dict(overfit_tolerance=-0.1), ValueError, "overfit_tolerance"),
        (dict(patience=0), ValueError, "patience"),
        (dict(divergence_factor=1.0), ValueError, "divergence_factor"),
        (dict(vanishing_ratio=1.0), ValueError, "vanishing_ratio"),
        (dict(exploding_norm=0), ValueError, "exploding_norm"),
        (dict(baseline_loss=-1.0), ValueError, "baseline_loss"),
        (dict(held_batch=(np.zeros(3),) * 3), TypeError, "held_batch"),
        (dict(log_per_layer=1), TypeError, "log_per_layer"),
        (dict(verbose=2), ValueError, "verbose"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        FitDiagnostics(**kwargs)


def test_works_under_jit_compile_and_steps_per_execution():
    x, y = circles(64, 0)
    model = mlp(2, [8], "relu")
    model.compile("adam", "binary_crossentropy", jit_compile=True, steps_per_execution=4)
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=1)
    history = fit(model, x, y, diagnostics, epochs=2, batch_size=8)  # 2 executions per epoch
    assert [step for step, _ in diagnostics.gradient_samples] == [0, 1, 2, 3, 4]
    assert np.isfinite(history.history["diag_grad_norm_max"]).all()


def test_two_output_model_uses_the_compiled_loss_of_both_outputs():
    x, y = circles(64, 0)
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    a = keras.layers.Dense(1, activation="sigmoid", name="a")(hidden)
    b = keras.layers.Dense(1, name="b")(hidden)
    model = keras.Model(inputs, {"a": a, "b": b})
    model.compile("sgd", loss={"a": "binary_crossentropy", "b": "mse"})
    initial = model.get_weights()
    diagnostics = FitDiagnostics(held_batch=(x[:8], {"a": y[:8], "b": y[:8]}), gradient_every=1)
    probed = model.fit(x, {"a": y, "b": y}, epochs=1, batch_size=16, verbose=0, callbacks=[diagnostics])
    norms = diagnostics.records[-1]["grad_norms"]
    assert set(norms) == {model.layers[1].name, "a", "b"} and all(value > 0 for value in norms.values())
    # The per-output loss metrics fit reports are those of a run without the probe.
    model.set_weights(initial)
    model.optimizer.iterations.assign(0)
    plain = model.fit(x, {"a": y, "b": y}, epochs=1, batch_size=16, verbose=0)
    for key in ("loss", "a_loss", "b_loss"):
        assert probed.history[key] == pytest.approx(plain.history[key], rel=1e-6), key


def test_subclassed_model_gets_gradients_but_no_dead_relu_share():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    x, y = circles(64, 0)
    model = Net()
    model.compile("sgd", "binary_crossentropy")
    model(x[:1])
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=2)
    history = fit(model, x, y, diagnostics, epochs=1, batch_size=16)
    assert len(diagnostics.records[-1]["grad_norms"]) == 2
    assert "diag_dead_relu" not in history.history


PROBE_SCRIPT = """
import json, keras, numpy as np
from kerasplus.diagnostics import _probes
rng = np.random.default_rng(0)
inp = keras.Input((8,))
h = keras.layers.Dense(6, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01))(inp)
h = keras.layers.BatchNormalization()(h)
logits, value = keras.layers.Dense(3)(h), keras.layers.Dense(1)(h)
single, multi = keras.Model(inp, logits), keras.Model(inp, [logits, value])
multi.set_weights([np.abs(rng.normal(size=w.shape)).astype("float32") + 0.1 for w in multi.get_weights()])
ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
single.compile("adam", loss=ce)
multi.compile("sgd", loss=[ce, "mse"])
x = rng.normal(size=(16, 8)).astype("float32")
y, target = rng.integers(0, 3, size=16), rng.normal(size=(16, 1)).astype("float32")
probe = _probes.GradientProbe(single, _probes.weighted_layers(single))
calls = [probe(x, y) for _ in range(_probes.EAGER_CALLS + 2)]  # eager, then compiled
out = {"eager": calls[0], "compiled": calls[-1]}
out["multi"] = _probes.GradientProbe(multi, _probes.weighted_layers(multi))(x, (y, target))
print("RESULT " + json.dumps(out))
"""


def probe_norms_on(backend):
    return run_script_on(backend, PROBE_SCRIPT)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_gradient_probe_gives_tensorflows_norms_on_jax_and_torch(backend):
    pytest.importorskip(backend)
    reference, other = probe_norms_on("tensorflow"), probe_norms_on(backend)
    for key in ("eager", "compiled", "multi"):
        assert other[key].keys() == reference[key].keys()
        for layer, norm in reference[key].items():
            assert other[key][layer] == pytest.approx(norm, rel=1e-5), (backend, key, layer)
    # a regularizer, BatchNormalization and a second output all reach the gradient
    assert reference["multi"]["dense"] != pytest.approx(reference["eager"]["dense"], rel=1e-3)


def test_with_validation_freq_the_overfitting_rule_uses_the_validated_epochs():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 10)).astype("float32"), rng.integers(0, 2, (32, 1)).astype("float32")
    validation = rng.normal(size=(128, 10)).astype("float32"), rng.integers(0, 2, (128, 1)).astype("float32")
    model = mlp(10, [256, 256], "relu")
    model.compile(keras.optimizers.Adam(0.003), "binary_crossentropy")
    diagnostics = FitDiagnostics(held_batch=(x, y), gradient_every=None, patience=2)
    model.fit(
        x,
        y,
        validation_data=validation,
        validation_freq=2,
        epochs=12,
        batch_size=32,
        verbose=0,
        callbacks=[diagnostics],
    )
    assert [r["val_loss"] is None for r in diagnostics.records] == [True, False] * 6
    assert diagnostics.verdict == "overfitting", diagnostics.report()


def test_without_gradient_probe_the_batch_hook_stays_keras_default():
    from keras.src.utils.python_utils import is_default

    assert is_default(FitDiagnostics().on_train_batch_end)
    assert is_default(
        FitDiagnostics(held_batch=(np.zeros((2, 2)), np.zeros((2, 1))), gradient_every=None).on_train_batch_end
    )
    assert not is_default(FitDiagnostics(held_batch=(np.zeros((2, 2)), np.zeros((2, 1)))).on_train_batch_end)


def test_probe_gives_the_same_norms_eager_and_once_traced():
    x, y = circles(64, 0)
    model = mlp(2, [8, 8], "relu")
    model.compile("sgd", "binary_crossentropy")
    probe = _probes.GradientProbe(model, _probes.weighted_layers(model))
    calls = [probe(x, y) for _ in range(_probes.EAGER_CALLS + 2)]
    assert probe.warming.compiled is not None  # the last calls ran traced
    for norms in calls[1:]:
        assert norms == pytest.approx(calls[0], rel=1e-6)


def test_the_verbose_epoch_line_names_the_verdict_in_a_word_and_fits_120_characters(capsys):
    from kerasplus.diagnostics.fit_diagnostics import LEGEND, epoch_line

    record = {
        "epoch": 3,
        "verdict": "overfitting",
        "reason": "validation loss rose 12% over 3 epochs",
        "grad_norms": {"a": 0.01, "b": 2.5},
        "vanishing": [],
        "exploding": ["b"],
        "dead_relu": 0.25,
    }
    line = epoch_line(record)
    assert line.startswith("FitDiagnostics epoch 3: overfitting (validation loss rose 12% over 3 epochs)")
    assert "grad norm 1.0e-02..2.5e+00" in line and "1 exploding" in line and len(line) <= 120
    assert len(epoch_line({**record, "reason": "x" * 300})) == 120
    assert "2 overfitting" in LEGEND and "0 good fit" in LEGEND
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[FitDiagnostics(verbose=1, gradient_every=None)])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == LEGEND and printed[1].startswith("FitDiagnostics epoch 1: ")
    assert len(printed) == 3 and all(len(line) <= 120 for line in printed)


def structured_binary_classifier():
    """Dict inputs, Dense(1, "sigmoid") and labels of shape (n,), as in the Keras example
    "structured data classification from scratch"."""
    age, city = keras.Input((1,), name="age"), keras.Input((3,), name="city")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(keras.layers.Concatenate()([age, city]))
    model = keras.Model({"age": age, "city": city}, keras.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")  # rate 0: every probe sees the same weights
    rng = np.random.default_rng(0)
    x = {"age": rng.normal(size=(64, 1)).astype("float32"), "city": rng.normal(size=(64, 3)).astype("float32")}
    return model, x, (x["age"][:, 0] > 0.3).astype("float32")


def test_labels_of_shape_n_for_a_single_unit_output_are_probed_as_fit_takes_them():
    model, x, y = structured_binary_classifier()
    twin, _, _ = structured_binary_classifier()
    twin.set_weights(model.get_weights())
    flat = FitDiagnostics(held_batch=(x, y), gradient_every=1)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[flat])
    column = FitDiagnostics(held_batch=(x, y[:, None]), gradient_every=1)
    twin.fit(x, y[:, None], epochs=1, batch_size=32, verbose=0, callbacks=[column])
    p = y.mean()  # the best constant prediction's crossentropy, by hand
    assert flat.baseline_source == "constant prediction"
    assert flat.baseline == pytest.approx(-(p * np.log(p) + (1 - p) * np.log(1 - p)), rel=1e-5)
    assert flat.records[-1]["grad_norms"] == pytest.approx(column.records[-1]["grad_norms"], rel=1e-6)
    assert all(value > 0 for value in flat.records[-1]["grad_norms"].values())


def test_a_held_batch_of_inputs_only_feeds_the_probes_that_need_no_labels():
    model, x, y = structured_binary_classifier()
    with_labels = FitDiagnostics(held_batch=(x, y), gradient_every=None)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[with_labels])
    for held in (x, (x,), (x, None)):
        x_only = FitDiagnostics(held_batch=held, gradient_every=None)
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[x_only])
        assert x_only.records[-1]["dead_relu"] == with_labels.records[-1]["dead_relu"]
        assert x_only.baseline is None  # no labels: no constant-prediction baseline (the curve's first loss is used)
    with pytest.raises(ValueError, match="no labels.*gradient_every=None"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[FitDiagnostics(held_batch=x, gradient_every=1)])


def test_an_x_only_batch_the_keras_guides_gan_cannot_use_is_refused_at_fit_start():
    from tests.callbacks.multi_optimizer_models import digits, gan

    x = digits(16)
    with pytest.raises(ValueError, match="feeds no probe"):
        gan().fit(x, batch_size=8, verbose=0, callbacks=[FitDiagnostics(held_batch=x, gradient_every=None)])
    with pytest.raises(ValueError, match="compiled with a loss"):
        gan().fit(x, batch_size=8, verbose=0, callbacks=[FitDiagnostics(held_batch=x)])
