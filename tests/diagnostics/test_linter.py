"""Each lint rule: a setup that triggers it and one that does not; where cheap, the failure it predicts."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import kerasplus
from kerasplus.callbacks import CyclicLR, OneCycleLR, WarmupLR
from kerasplus.diagnostics import RULES, Finding, lint
from kerasplus.diagnostics.linter import matrix_markdown
from kerasplus.layers import CutMix, Mixup
from tests.helpers import applied_rates, rate_probe

ROOT = pathlib.Path(__file__).resolve().parents[2]


def rules(findings):
    return [finding.rule for finding in findings]


def classifier(*hidden, activation="softmax", classes=3, loss="categorical_crossentropy", optimizer="adam"):
    model = keras.Sequential([keras.Input((4,)), *hidden, keras.layers.Dense(classes, activation=activation)])
    model.compile(optimizer, loss)
    return model


# ------------------------------------------------------------ validation monitor
def test_val_monitor_without_validation_data_is_an_error():
    found = lint(classifier(), callbacks=[keras.callbacks.EarlyStopping("val_loss")])
    assert rules(found) == ["val-monitor-without-validation"]
    assert found[0].severity == "error" and "EarlyStopping" in found[0].message


def test_model_checkpoint_monitors_only_with_save_best_only(tmp_path):
    path = str(tmp_path / "m.keras")
    assert lint(classifier(), callbacks=[keras.callbacks.ModelCheckpoint(path)]) == []
    found = lint(classifier(), callbacks=[keras.callbacks.ModelCheckpoint(path, save_best_only=True)])
    assert rules(found) == ["val-monitor-without-validation"]


def test_val_monitor_with_validation_data_or_train_monitor_is_fine():
    x = np.zeros((4, 4))
    assert lint(classifier(), callbacks=[keras.callbacks.EarlyStopping("val_loss")], validation_data=(x, x)) == []
    assert lint(classifier(), callbacks=[keras.callbacks.ReduceLROnPlateau("loss")]) == []


# ------------------------------------------------------------- learning rate
def test_one_cycle_with_reduce_lr_on_plateau_is_two_drivers_and_fit_refuses_at_its_start():
    callbacks = [
        OneCycleLR(max_lr=0.1, cycle_momentum=False),
        keras.callbacks.ReduceLROnPlateau("loss", patience=0, min_delta=1e9),
    ]
    model, x, y = rate_probe(4)
    assert rules(lint(model, callbacks=callbacks)) == ["two-lr-drivers"]
    # The rule predicts that ReduceLROnPlateau cannot set a rate over the installed schedule (TypeError
    # in epoch 2); OneCycleLR enforces the error before the first step, in lint's words.
    with pytest.raises(ValueError, match=r"error \[two-lr-drivers\]"):
        model.fit(x, y, batch_size=1, epochs=3, verbose=0, callbacks=callbacks)
    assert applied_rates(model).tolist() == [0.0] * 4  # not one step was trained


@pytest.mark.parametrize(
    "callbacks",
    [
        [keras.callbacks.LearningRateScheduler(lambda epoch: 0.1), keras.callbacks.ReduceLROnPlateau()],
        [CyclicLR(0.01, 0.1, 4, cycle_momentum=False), OneCycleLR(max_lr=0.1, cycle_momentum=False)],
        [WarmupLR(10), keras.callbacks.ReduceLROnPlateau()],
    ],
)
def test_other_pairs_of_lr_drivers_are_found(callbacks):
    assert "two-lr-drivers" in rules(lint(classifier(), callbacks=callbacks))


@pytest.mark.parametrize(
    "callbacks",
    [
        [OneCycleLR(max_lr=0.1), WarmupLR(10)],
        [keras.callbacks.ReduceLROnPlateau("loss")],
        [CyclicLR(0.01, 0.1, 4), keras.callbacks.EarlyStopping("loss")],
    ],
)
def test_one_lr_driver_or_warmup_after_a_schedule_callback_is_fine(callbacks):
    assert lint(classifier(), callbacks=callbacks) == []


def test_lr_callback_over_an_optimizer_schedule_is_an_error_and_crashes_for_keras_callbacks():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model, x, y = rate_probe(4, optimizer=keras.optimizers.SGD(schedule))
    plateau = keras.callbacks.ReduceLROnPlateau("loss", patience=0, min_delta=1e9)
    found = lint(model, callbacks=[plateau])
    assert rules(found) == ["lr-callback-over-schedule"] and "TypeError" in found[0].message
    with pytest.raises(TypeError, match="not settable"):
        model.fit(x, y, batch_size=1, epochs=2, verbose=0, callbacks=[plateau])
    found = lint(model, callbacks=[OneCycleLR(max_lr=0.1)])
    assert rules(found) == ["lr-callback-over-schedule"] and "ignored" in found[0].message


def test_float_rate_with_a_callback_or_warmup_around_a_schedule_is_fine():
    assert lint(classifier(), callbacks=[keras.callbacks.ReduceLROnPlateau("loss")]) == []
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 100)
    assert lint(classifier(optimizer=keras.optimizers.SGD(schedule)), callbacks=[WarmupLR(10)]) == []


def test_warmup_before_one_cycle_is_found_and_its_warmup_is_lost():
    steps = 8
    callbacks = [WarmupLR(warmup_steps=steps), OneCycleLR(max_lr=0.5, cycle_momentum=False)]
    model, x, y = rate_probe(steps)
    assert rules(lint(model, callbacks=callbacks)) == ["warmup-before-lr-callback"]
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    alone, _, _ = rate_probe(steps)
    alone.fit(
        x, y, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[OneCycleLR(max_lr=0.5, cycle_momentum=False)]
    )
    np.testing.assert_allclose(applied_rates(model), applied_rates(alone))  # no warm-up left


def test_warmup_after_one_cycle_is_fine():
    callbacks = [OneCycleLR(max_lr=0.5, cycle_momentum=False), WarmupLR(warmup_steps=8)]
    assert lint(rate_probe(8)[0], callbacks=callbacks) == []


# ------------------------------------------------------- mixing and smoothing
@pytest.mark.parametrize(
    "loss",
    [
        keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        kerasplus.losses.SparseCategoricalCrossentropy(label_smoothing=0.2),
    ],
)
def test_mixup_with_label_smoothing_is_found(loss):
    for layer in (Mixup(0.2, num_classes=3), keras.layers.MixUp()):  # ours and Keras's
        found = lint(classifier(loss=loss), augmentation=[keras.layers.RandomFlip(), layer])
        assert rules(found) == ["mixing-with-label-smoothing"]


def test_mixing_layer_inside_the_model_is_found():
    images = keras.Input((8, 8, 1))
    labels = keras.Input((3,))
    mixed, _ = CutMix(1.0)((images, labels))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(mixed))
    model = keras.Model([images, labels], out)
    model.compile("adam", keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    assert rules(lint(model)) == ["mixing-with-label-smoothing"]


def test_mixup_without_smoothing_or_smoothing_without_mixup_is_fine():
    assert lint(classifier(loss=keras.losses.CategoricalCrossentropy()), augmentation=[Mixup(0.2)]) == []
    assert lint(classifier(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))) == []


# --------------------------------------------------------------- normalization
def test_batchnorm_with_batch_size_below_16_is_found():
    model = classifier(keras.layers.Dense(8), keras.layers.BatchNormalization())
    found = lint(model, batch_size=8)
    assert rules(found) == ["batchnorm-small-batch"] and "batches of 8" in found[0].message


def test_batchnorm_with_batch_size_16_or_unknown_is_fine():
    model = classifier(keras.layers.Dense(8), keras.layers.BatchNormalization())
    assert lint(model, batch_size=16) == [] and lint(model) == []
    assert lint(classifier(keras.layers.Dense(8)), batch_size=2) == []


def test_dropout_directly_before_batchnorm_is_found_in_sequential_and_functional_models():
    model = classifier(keras.layers.Dense(8), keras.layers.Dropout(0.5), keras.layers.BatchNormalization())
    assert rules(lint(model)) == ["dropout-before-batchnorm"]
    inputs = keras.Input((4,))
    hidden = keras.layers.BatchNormalization()(keras.layers.SpatialDropout1D(0.2)(keras.layers.Reshape((2, 2))(inputs)))
    functional = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(hidden)))
    assert rules(lint(functional)) == ["dropout-before-batchnorm"]


def test_dropout_after_batchnorm_is_fine():
    model = classifier(keras.layers.Dense(8), keras.layers.BatchNormalization(), keras.layers.Dropout(0.5))
    assert lint(model) == []


# ------------------------------------------------------------------- logits
@pytest.mark.parametrize(
    "activation, loss",
    [
        ("softmax", keras.losses.CategoricalCrossentropy(from_logits=True)),
        ("sigmoid", keras.losses.BinaryCrossentropy(from_logits=True)),
        ("softmax", kerasplus.losses.FocalCrossentropy(from_logits=True, sparse=True)),
    ],
)
def test_probability_output_with_from_logits_true_is_an_error(activation, loss):
    found = lint(classifier(activation=activation, loss=loss))
    assert rules(found) == ["probabilities-with-from-logits"] and found[0].severity == "error"


def test_logit_output_with_from_logits_true_is_fine():
    assert lint(classifier(activation=None, loss=keras.losses.CategoricalCrossentropy(from_logits=True))) == []


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", keras.losses.BinaryCrossentropy()])
def test_linear_output_with_from_logits_false_is_an_error(loss):
    assert rules(lint(classifier(activation=None, loss=loss))) == ["logits-without-from-logits"]


def test_probability_output_with_from_logits_false_and_regression_are_fine():
    assert lint(classifier(activation="softmax", loss="sparse_categorical_crossentropy")) == []
    assert lint(classifier(activation=None, loss="mse")) == []


def test_loss_argument_overrides_the_compiled_one():
    model = classifier(activation="softmax", loss="categorical_crossentropy")
    assert lint(model) == []
    found = lint(model, loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    assert rules(found) == ["probabilities-with-from-logits"]


def test_output_of_a_nested_model_and_a_softmax_layer_are_seen():
    body = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])
    inputs = keras.Input((4,))
    model = keras.Model(inputs, body(inputs))
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    assert rules(lint(model)) == ["probabilities-with-from-logits"]


# ------------------------------------------------------------ initialization
def relu_stack(depth, **dense_kwargs):
    layers = [keras.layers.Dense(32, activation="relu", **dense_kwargs) for _ in range(depth)]
    return keras.Sequential([keras.Input((32,)), *layers, keras.layers.Dense(1)])


def test_deep_relu_stack_with_glorot_init_is_found():
    found = lint(relu_stack(10))
    assert rules(found) == ["relu-stack-glorot"] and found[0].message.startswith("10 ReLU-family layers")


def test_relu_stack_with_he_init_reinitialized_or_shallow_is_fine():
    assert lint(relu_stack(10, kernel_initializer="he_normal")) == []
    assert lint(relu_stack(5)) == []
    model = relu_stack(10)
    kerasplus.initializers.reinitialize(model, seed=0)  # kernels re-drawn with He's variance
    assert lint(model) == []


# -------------------------------------------------------------- weight decay
def test_l2_regularizer_with_adamw_is_found():
    model = classifier(
        keras.layers.Dense(8, kernel_regularizer=keras.regularizers.L2(1e-4)), optimizer=keras.optimizers.AdamW()
    )
    found = lint(model)
    assert rules(found) == ["l2-with-weight-decay"] and "AdamW" in found[0].message


def test_l2_with_plain_adam_or_adamw_without_l2_is_fine():
    l2 = keras.layers.Dense(8, kernel_regularizer=keras.regularizers.L1L2(l1=1e-4, l2=1e-4))
    assert lint(classifier(l2, optimizer=keras.optimizers.Adam())) == []
    l1 = keras.layers.Dense(8, kernel_regularizer=keras.regularizers.L1(1e-4))
    assert lint(classifier(l1, optimizer=keras.optimizers.AdamW())) == []


# -------------------------------------------------------------- distribution
MIRRORED = textwrap.dedent(
    """
    import json, os
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from kerasplus.diagnostics import lint

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = np.ones((32, 4), "float32"), np.ones((32, 1), "float32")
    out = {}
    for name, kwargs in [("plain", {}), ("jit", dict(jit_compile=True)), ("spe", dict(steps_per_execution=4))]:
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile("sgd", "mse", **kwargs)
        out[name] = [f.rule for f in lint(model)]
        if name == "jit":
            try:
                model.fit(x, y, batch_size=8, epochs=1, verbose=0)
                out["jit_fit"] = "ok"
            except Exception as error:
                out["jit_fit"] = type(error).__name__
    print(json.dumps(out))
    """
)


def test_mirrored_strategy_with_xla_or_steps_per_execution_is_found_and_fails_in_fit():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["plain"] == []
    assert out["jit"] == ["mirrored-xla-or-steps-per-execution"]
    assert out["spe"] == ["mirrored-xla-or-steps-per-execution"]
    # The upstream limit the rule exists for (Keras 3.15.1, TF 2.21): if this starts to pass, retire the rule.
    assert out["jit_fit"] == "InvalidArgumentError"


def test_one_replica_with_xla_is_fine():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=True, steps_per_execution=4)
    assert lint(model) == []


# --------------------------------------------------------------------- API
def test_findings_carry_severity_rule_message_and_fix_errors_first():
    model = classifier(
        keras.layers.Dense(8),
        keras.layers.Dropout(0.5),
        keras.layers.BatchNormalization(),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    found = lint(model)
    assert [f.severity for f in found] == ["error", "warning"]
    assert all(isinstance(f, Finding) and f.message and f.fix for f in found)
    assert str(found[0]).startswith("error [probabilities-with-from-logits] ")


def test_every_rule_has_an_id_severity_and_fix_and_the_readme_shows_the_matrix():
    assert len({rule.id for rule in RULES}) == len(RULES) >= 12
    assert all(rule.severity in ("error", "warning") and rule.fix for rule in RULES)
    readme = (ROOT / "README.md").read_text()
    assert matrix_markdown() in readme


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(model="not a model"), TypeError, "model"),
        (dict(callbacks=[object()]), TypeError, "callbacks"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=8.5), TypeError, "batch_size"),
        (dict(augmentation=["flip"]), TypeError, "augmentation"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    model = kwargs.pop("model", classifier())
    with pytest.raises(error, match=match):
        lint(model, **kwargs)


@pytest.mark.parametrize("build", ["sequential", "functional", "dict"])
def test_an_output_is_named_by_its_layer_not_its_tensor(build):
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    if build == "sequential":
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax", name="head")])
        expected = "output 'head' (Dense)"
    else:
        inputs = keras.Input((4,))
        head = keras.layers.Dense(3, activation="softmax", name="head")(inputs)
        model = keras.Model(inputs, {"probs": head} if build == "dict" else head)
        expected = "output 'probs' (layer 'head', Dense)" if build == "dict" else "output 'head' (Dense)"
        loss = {"probs": loss} if build == "dict" else loss
    model.compile("adam", loss)
    found = lint(model)
    assert rules(found) == ["probabilities-with-from-logits"]
    assert expected in found[0].message and "keras_tensor" not in found[0].message


# ------------------------------------------------ timm's label_smoothing in the mixing layer
@pytest.mark.parametrize("layer", [Mixup(0.2, num_classes=3, label_smoothing=0.1), CutMix(1.0, label_smoothing=0.1)])
def test_mixing_layer_smoothing_plus_loss_smoothing_is_double_smoothing(layer):
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    found = lint(classifier(loss=loss), augmentation=[layer])
    assert rules(found) == ["mixing-with-label-smoothing"]
    assert "its own label_smoothing=0.1" in found[0].message and "smoothed twice" in found[0].message
    assert "label_smoothing=0 in the loss" in found[0].fix


def test_a_mixing_layers_own_label_smoothing_alone_is_fine():
    layer = Mixup(0.2, num_classes=3, label_smoothing=0.1)
    assert lint(classifier(loss=keras.losses.CategoricalCrossentropy()), augmentation=[layer]) == []
