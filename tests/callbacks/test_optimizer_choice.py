"""Callbacks on models that hold several optimizers: the one named is driven, or fit refuses at its start.

The GAN is the Keras guide's (tests/callbacks/multi_optimizer_models.py). On
JAX and PyTorch the same checks run in the backend matrix
(tests/backends/matrix_runner.py, rows "... several optimizers").
"""

from __future__ import annotations

import tempfile

import keras
import numpy as np
import pytest

import kerasplus
from kerasplus.callbacks import BackupAndRestore, CyclicLR, NaNGuard, OneCycleLR, WarmupLR
from tests.callbacks.multi_optimizer_models import TwoRateProbe, digits, gan
from tests.helpers import applied_rates, rate_probe, torch_curve

STEPS = 12


def two_rate_probe(left=None, right=None):
    model = TwoRateProbe(STEPS)
    model.compile(left or keras.optimizers.SGD(1.0), right or keras.optimizers.SGD(0.5))
    return model


def fit_probe(model, callbacks, epochs=1):
    x = np.eye(STEPS, dtype="float32")
    model.fit(x, np.zeros((STEPS, 1), "float32"), batch_size=1, epochs=epochs, shuffle=False, verbose=0,
              callbacks=callbacks)  # fmt: skip


def test_one_cycle_drives_the_named_optimizer_and_no_other():
    model = two_rate_probe()
    fit_probe(model, [OneCycleLR(0.3, cycle_momentum=False, optimizer="left_optimizer")])
    torch_rates, _ = torch_curve("OneCycleLR", STEPS, max_lr=0.3, total_steps=STEPS)
    # SGD's update w <- w - lr_k * 1 wrote each applied rate into its own weight
    np.testing.assert_allclose(model.applied(model.left), torch_rates[:STEPS], rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(model.applied(model.right), np.full(STEPS, 0.5))
    assert float(model.left_optimizer.learning_rate) == 1.0  # its own rate is back after fit
    assert int(model.optimizer.iterations) == 0  # the unused default optimizer stays untouched


def test_the_optimizer_object_may_be_passed_and_each_of_two_callbacks_drives_its_own():
    model = two_rate_probe()
    left = OneCycleLR(0.3, cycle_momentum=False, optimizer=model.left_optimizer)
    right = CyclicLR(0.1, 0.4, step_size_up=3, cycle_momentum=False, optimizer="right_optimizer")
    fit_probe(model, [left, right])
    torch_left, _ = torch_curve("OneCycleLR", STEPS, max_lr=0.3, total_steps=STEPS)
    torch_right, _ = torch_curve("CyclicLR", STEPS, base_lr=0.1, max_lr=0.4, step_size_up=3, cycle_momentum=False)
    np.testing.assert_allclose(model.applied(model.left), torch_left[:STEPS], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(model.applied(model.right), torch_right[:STEPS], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "callback",
    [
        lambda: OneCycleLR(0.1),
        lambda: CyclicLR(0.01, 0.1, step_size_up=2),
        lambda: WarmupLR(4),
        lambda: kerasplus.callbacks.LRFinder(1e-4, 1.0, num_steps=4),
        lambda: NaNGuard(lr_factor=0.5),
    ],
    ids=["OneCycleLR", "CyclicLR", "WarmupLR", "LRFinder", "NaNGuard"],
)
def test_several_optimizers_and_none_named_refuses_before_the_first_step(callback):
    model = gan()
    with pytest.raises(ValueError, match=r"holds 3 optimizers.*d_optimizer.*optimizer='d_optimizer'"):
        model.fit(digits(8), batch_size=8, epochs=1, verbose=0, callbacks=[callback()])
    assert int(model.d_optimizer.iterations) == 0 and int(model.g_optimizer.iterations) == 0


def test_a_wrong_name_or_a_foreign_optimizer_is_refused():
    model = two_rate_probe()
    with pytest.raises(ValueError, match="names no optimizer"):
        fit_probe(model, [OneCycleLR(0.1, optimizer="loss_fn")])
    with pytest.raises(ValueError, match="not one the model holds"):
        fit_probe(model, [OneCycleLR(0.1, optimizer=keras.optimizers.SGD())])
    with pytest.raises(TypeError, match="`optimizer`"):
        OneCycleLR(0.1, optimizer=3)


def test_a_model_with_one_optimizer_needs_no_name():
    model, x, y = rate_probe(STEPS)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[OneCycleLR(0.3, cycle_momentum=False)])
    torch_rates, _ = torch_curve("OneCycleLR", STEPS, max_lr=0.3, total_steps=STEPS)
    np.testing.assert_allclose(applied_rates(model), torch_rates[:STEPS], rtol=1e-5, atol=1e-9)


def test_lint_errors_stop_fit_at_its_start_with_lints_message_and_override_schedule_opts_out():
    decay = keras.optimizers.schedules.ExponentialDecay(0.2, 4, 0.5)
    model = two_rate_probe(left=keras.optimizers.SGD(decay))
    with pytest.raises(ValueError, match=r"error \[lr-callback-over-schedule\].*override_schedule=True"):
        fit_probe(model, [OneCycleLR(0.3, cycle_momentum=False, optimizer="left_optimizer")])
    assert model.applied(model.left).tolist() == [0.0] * STEPS  # nothing trained
    fit_probe(model, [OneCycleLR(0.3, cycle_momentum=False, optimizer="left_optimizer", override_schedule=True)])
    torch_rates, _ = torch_curve("OneCycleLR", STEPS, max_lr=0.3, total_steps=STEPS)
    np.testing.assert_allclose(model.applied(model.left), torch_rates[:STEPS], rtol=1e-5, atol=1e-9)
    found = kerasplus.diagnostics.lint(model, callbacks=[OneCycleLR(0.3, optimizer="left_optimizer")])
    assert [f.rule for f in found] == ["lr-callback-over-schedule"]  # what the callback enforced

    twice = [OneCycleLR(0.3, optimizer="left_optimizer"), CyclicLR(0.1, 0.2, optimizer="left_optimizer")]
    with pytest.raises(ValueError, match=r"error \[two-lr-drivers\]"):
        fit_probe(two_rate_probe(), twice)


def test_nan_guard_lowers_the_named_rate_and_restores_both_optimizers():
    model = two_rate_probe(left=keras.optimizers.Adam(0.1), right=keras.optimizers.Adam(0.1))
    x = np.eye(STEPS, dtype="float32")
    x[5, 5] = np.nan  # the sixth step turns both probes' weight 5 to NaN
    guard = NaNGuard(lr_factor=0.5, optimizer="right_optimizer")
    model.fit(x, np.zeros((STEPS, 1)), batch_size=1, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.failures == 1
    assert float(model.right_optimizer.learning_rate) == pytest.approx(0.05)
    assert float(model.left_optimizer.learning_rate) == pytest.approx(0.1)
    # the undone step left no trace in either optimizer: 11 steps each
    assert int(model.left_optimizer.iterations) == int(model.right_optimizer.iterations) == STEPS - 1
    assert np.isfinite(model.applied(model.left)).all() and np.isfinite(model.applied(model.right)).all()


class Interrupt(keras.callbacks.Callback):
    """Raises after batch `batch` of epoch `epoch` (at that epoch's end when `batch` is None)."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and (self.current, batch) == (self.epoch, self.batch):
            raise RuntimeError("interrupted")

    def on_epoch_end(self, epoch, logs=None):
        if self.batch is None and epoch == self.epoch:
            raise RuntimeError("interrupted")


def gan_state(model):
    """Every variable of the GAN and of both its optimizers, as numpy."""
    variables = model.variables + model.d_optimizer.variables + model.g_optimizer.variables
    return [(v.name, np.array(keras.ops.convert_to_numpy(v.value))) for v in variables]


def seeded_gan():
    keras.utils.set_random_seed(0)
    return gan()


@pytest.mark.slow
@pytest.mark.parametrize("save_freq, interrupt", [("epoch", Interrupt(0)), (1, Interrupt(1, 0))], ids=["epoch", "mid"])
def test_gan_resumes_bit_exactly_with_both_optimizers(save_freq, interrupt):
    x = digits(16)
    fit = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    straight = seeded_gan()
    straight.fit(x, **fit)
    with tempfile.TemporaryDirectory() as directory:
        first = seeded_gan()
        with pytest.raises(RuntimeError, match="interrupted"):
            first.fit(x, callbacks=[BackupAndRestore(directory, save_freq=save_freq), interrupt], **fit)
        resumed = seeded_gan()  # a fresh GAN: its d_ and g_optimizer are not built yet
        backup = BackupAndRestore(directory, save_freq=save_freq)
        resumed.fit(x, callbacks=[backup], **fit)
        assert backup.restored_from is not None
    assert int(resumed.d_optimizer.iterations) == int(resumed.g_optimizer.iterations) == 4
    want, got = gan_state(straight), gan_state(resumed)
    assert len(got) == len(want) and len(want) > 30  # weights, seed state, 2 x (iterations, rate, 2 slots per weight)
    for (name, value), (got_name, got_value) in zip(want, got):
        assert got_value.shape == value.shape, (name, got_name)
        np.testing.assert_array_equal(got_value, value, err_msg=name)


def test_lr_finder_on_the_gan_asks_for_the_logged_loss_then_sweeps_only_the_named_optimizer():
    model = gan()
    with pytest.raises(ValueError, match=r"compiled without a loss.*monitor='d_loss'"):
        model.fit(digits(8), batch_size=2, epochs=1, verbose=0,
                  callbacks=[kerasplus.callbacks.LRFinder(1e-4, 1e-1, num_steps=3, optimizer="d_optimizer")])  # fmt: skip
    assert int(model.d_optimizer.iterations) == 0
    finder = kerasplus.callbacks.LRFinder(1e-4, 1e-1, num_steps=3, optimizer="d_optimizer", monitor="d_loss")
    model.fit(digits(8), batch_size=2, epochs=1, verbose=0, callbacks=[finder])
    np.testing.assert_allclose(finder.result.lrs, 1e-4 * 1000.0 ** (np.arange(3) / 2), rtol=1e-6)  # the sweep's formula
    assert np.all(np.isfinite(finder.result.losses)) and len(finder.result.losses) == 3
    assert float(model.g_optimizer.learning_rate) == pytest.approx(3e-4)


def test_lr_find_on_the_gan_refuses_without_a_name_and_puts_back_every_optimizer_with_one():
    model = gan()
    with pytest.raises(ValueError, match=r"holds 3 optimizers.*optimizer='d_optimizer'"):
        kerasplus.lr_find(model, digits(8), num_steps=3, batch_size=2)
    for optimizer in (model.d_optimizer, model.g_optimizer):
        optimizer.build(model.trainable_variables)
    before = [np.array(v) for v in [*model.variables, *model.d_optimizer.variables, *model.g_optimizer.variables]]
    result = kerasplus.lr_find(model, digits(8), start_lr=1e-4, end_lr=1e-1, num_steps=3, batch_size=2,
                               optimizer="d_optimizer", monitor="d_loss")  # fmt: skip
    assert len(result.lrs) == 3
    after = [np.array(v) for v in [*model.variables, *model.d_optimizer.variables, *model.g_optimizer.variables]]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_swa_without_swa_lr_needs_no_optimizer_on_the_gan_and_with_one_asks_for_it():
    model = gan()
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append([np.array(v, np.float64) for v in model.trainable_variables])
    )
    swa = kerasplus.callbacks.StochasticWeightAveraging(swa_start=1)
    model.fit(digits(4), batch_size=4, epochs=3, verbose=0, callbacks=[probe, swa])
    for variable, a, b in zip(model.trainable_variables, seen[1], seen[2]):
        np.testing.assert_allclose(np.array(variable), (a + b) / 2, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"holds 3 optimizers.*optimizer='d_optimizer'"):
        model.fit(digits(4), batch_size=4, epochs=2, verbose=0,
                  callbacks=[kerasplus.callbacks.StochasticWeightAveraging(swa_start=1, swa_lr=0.01)])  # fmt: skip
    swa = kerasplus.callbacks.StochasticWeightAveraging(
        swa_start=1, swa_lr=0.01, anneal_epochs=0, optimizer="d_optimizer"
    )
    model.fit(digits(4), batch_size=4, epochs=2, verbose=0, callbacks=[swa])
    assert swa.averaged_epochs == 1
