"""The learning-rate range test (Smith 2017; fastai's `lr_find`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _model_snapshot, _optimizer_choice
from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks._schedule_callback import ScheduleCallback
from kerasplus.schedules.exponential_sweep import ExponentialSweep


def _steep(lrs, losses):
    """fastai's `steep`: the rate where the loss falls fastest against log(rate)."""
    slopes = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    return float(lrs[int(np.argmin(slopes))])


def _valley(lrs, losses):
    """fastai's `valley`: inside the longest descending run, 1/2 of the way down."""
    n = len(losses)
    run = [1] * n
    best_end, best_start = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
            if run[best_end] < run[i]:
                best_end = i
                best_start = best_end - run[best_end]
    section = (best_end - best_start) / 3
    return float(lrs[best_start + int(section) + int(section / 2)])


# fastai's `Recorder.plot_lr_find(skip_end=5)` and `Learner.lr_find`'s ``[num_it // 10 : -5]``.
SKIP_END = 5


@dataclasses.dataclass
class LRFinderResult:
    """What a range test recorded: one row per optimizer step.

    Suggestions follow fastai's `Learner.lr_find`: the smoothed losses of the
    steps ``num_steps // 10`` to the fifth-last recorded one (``num_steps`` is
    the number requested, so a run stopped early by divergence is trimmed as
    fastai trims it), cut at the first non-finite loss, then fastai's
    `valley` or `steep` rule.

    Attributes:
        lrs: learning rate applied at each step.
        losses: the batch loss of each step.
        smoothed_losses: bias-corrected exponential moving average of `losses`.
        diverged: whether the sweep stopped early because the loss blew up.
        num_steps: the number of steps the sweep was asked for; None means
            ``len(lrs)`` (a sweep that ran to its end).

    Example:

    >>> import numpy as np
    >>> from kerasplus.callbacks import LRFinderResult
    >>> lrs = np.geomspace(1e-5, 1.0, 50)
    >>> losses = 2.0 - np.tanh(10 * (np.log10(lrs) + 3))  # falls around 1e-3
    >>> result = LRFinderResult(lrs, losses, losses, diverged=False)
    >>> f"{result.suggestion_valley:.1e}", f"{result.suggestion_steep:.1e}"
    ('1.1e-03', '8.7e-04')
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    diverged: bool
    num_steps: int | None = None

    def _trimmed(self, minimum):
        num_steps = len(self.lrs) if self.num_steps is None else self.num_steps
        lrs = np.asarray(self.lrs, dtype=np.float64)[num_steps // 10 : -SKIP_END]
        losses = np.asarray(self.smoothed_losses, dtype=np.float64)[num_steps // 10 : -SKIP_END]
        bad = np.flatnonzero(~np.isfinite(losses))
        if len(bad):
            lrs, losses = lrs[: bad[0]], losses[: bad[0]]
        if len(lrs) < minimum:
            raise ValueError(
                f"The range test recorded {len(self.lrs)} of num_steps={num_steps} steps; fastai's rule "
                f"keeps steps num_steps // 10 to the {SKIP_END}th-last, {len(lrs)} here, and needs at "
                f"least {minimum}. Use more num_steps (or a lower start_lr or end_lr if it diverged)."
            )
        return lrs, losses

    @property
    def suggestion_steep(self) -> float:
        """Rate at the steepest descent of the smoothed loss (fastai's `steep`)."""
        return _steep(*self._trimmed(2))

    @property
    def suggestion_valley(self) -> float:
        """fastai's default "valley" suggestion."""
        return _valley(*self._trimmed(1))

    @property
    def suggestion(self) -> float:
        return self.suggestion_valley

    def y_limits(self) -> tuple[float, float]:
        """The plot's loss range: the smoothed curve without its last 5 points, outliers cut.

        A value is an outlier beyond 3 interquartile ranges from the quartiles
        (Tukey's far-out fences), so one spike does not flatten the curve.
        """
        values = np.asarray(self.smoothed_losses, dtype=np.float64)
        if len(values) > 2 * SKIP_END:
            values = values[:-SKIP_END]
        values = values[np.isfinite(values)]
        if not len(values):
            return (0.0, 1.0)
        q1, q3 = np.percentile(values, [25, 75])
        spread = q3 - q1
        kept = values[(values >= q1 - 3 * spread) & (values <= q3 + 3 * spread)]
        low, high = float(kept.min()), float(kept.max())
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
        return (low - pad, high + pad)

    def plot(self, path: str) -> str:
        """Writes loss against learning rate (log scale) as a PNG; returns `path`.

        The y-axis spans `y_limits()`, so a spike does not flatten the curve.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses, alpha=0.3, label="batch loss")
        ax.plot(self.lrs, self.smoothed_losses, label="smoothed loss")
        for name, lr, marker in (
            ("steep", self.suggestion_steep, "o"),
            ("valley", self.suggestion_valley, "s"),
        ):
            index = int(np.argmin(np.abs(self.lrs - lr)))
            ax.plot(lr, self.smoothed_losses[index], marker, label=f"{name} {lr:.2e}")
        ax.set_xscale("log")
        ax.set_ylim(*self.y_limits())
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


class LRFinder(ScheduleCallback):
    """Learning-rate range test as a callback in your own `fit`.

    Sweeps the rate exponentially from `start_lr` to `end_lr` over `num_steps`
    optimizer steps (a `kerasplus.schedules.ExponentialSweep`, read in-graph
    from `optimizer.iterations`), records each
    batch loss, and stops `fit` after `num_steps` or when the smoothed loss
    exceeds ``diverge_threshold`` times its minimum (or is not finite). The
    recording is in `result`. It does not restore the weights: `lr_find` does.

    Batch losses are recovered from the epoch's running mean that Keras logs,
    so each is exact when batches have equal size; with
    ``steps_per_execution=k`` one row is the mean of k batches.

    Args:
        start_lr: rate at the first step, > 0 (as `kerasplus.schedules.ExponentialSweep`).
        end_lr: rate at the last step, > `start_lr`.
        num_steps: steps in the sweep, >= 2.
        beta: smoothing of the loss, in [0, 1).
        diverge_threshold: stop when smoothed loss > threshold * best; > 1.
        optimizer: the optimizer to drive: a `keras.optimizers.Optimizer`
            the model holds, or the name of the model attribute holding it
            (``"d_optimizer"`` for the Keras guide's GAN); None drives the
            model's only optimizer, and `fit` raises at its start when the
            model holds several.
        override_schedule: replace the optimizer's own `LearningRateSchedule`
            for this `fit` on purpose; False (the default) raises at the
            start of `fit` with `kerasplus.diagnostics.lint`'s
            ``lr-callback-over-schedule`` message.
        monitor: the key of the batch logs holding the loss to record
            (``"d_loss"`` for the discriminator of the Keras guide's GAN, whose
            `train_step` logs no ``loss``). A model compiled without a loss is
            refused at the start of `fit` while `monitor` is ``"loss"``.

    Example:

    >>> import kerasplus
    >>> finder = kerasplus.callbacks.LRFinder(1e-5, 1.0, num_steps=50)
    """

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_steps: int = 100,
        beta: float = 0.98,
        diverge_threshold: float = 4.0,
        optimizer: keras.optimizers.Optimizer | str | None = None,
        override_schedule: bool = False,
        monitor: str = "loss",
    ) -> None:
        super().__init__(cycle_momentum=False, optimizer=optimizer, override_schedule=override_schedule)
        self.schedule = ExponentialSweep(start_lr, end_lr, num_steps)
        self.monitor = v.check_name("monitor", monitor)
        self.beta = v.check_range("beta", beta, 0.0, 1.0, high_inclusive=False)
        self.diverge_threshold = v.check_range(
            "diverge_threshold", diverge_threshold, 1.0, math.inf, low_inclusive=False
        )
        self.result = None

    def make_schedules(self, optimizer: keras.optimizers.Optimizer) -> tuple:
        self._lrs, self._losses, self._smoothed = [], [], []
        self._average, self._best, self._diverged = 0.0, math.inf, False
        return self.schedule, None

    def on_train_begin(self, logs: dict | None = None) -> None:
        steps = getattr(self.driven_optimizer(), "gradient_accumulation_steps", None)
        if steps:
            raise ValueError(
                f"LRFinder: the optimizer has gradient_accumulation_steps={steps}; a range test records one loss "
                "per batch at the rate of one update, which an update every few batches does not give. Run the "
                f"range test with an optimizer without gradient_accumulation_steps and a batch size {steps} "
                "times larger (the same updates for a loss averaged over the batch)."
            )
        super().on_train_begin(logs)
        if self.monitor == "loss" and getattr(self.model, "loss", None) is None:
            raise ValueError(
                f"LRFinder: model {self.model.name!r} ({type(self.model).__name__}) was compiled without a loss, so "
                "its own train_step logs its losses under its own names and LRFinder cannot read logs['loss']; "
                "pass monitor='<the logged loss of the driven optimizer>' (monitor='d_loss' with "
                "optimizer='d_optimizer' for the Keras guide's GAN)."
            )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        self._last_batch, self._last_mean = -1, 0.0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.monitor not in (logs or {}):
            raise ValueError(
                f"LRFinder: the batch logs of model {self.model.name!r} hold no {self.monitor!r} "
                f"(they hold {sorted(logs or {})}); pass monitor= one of those."
            )
        mean = float(logs[self.monitor])
        count = batch - self._last_batch
        loss = ((batch + 1) * mean - (self._last_batch + 1) * self._last_mean) / count
        self._last_batch, self._last_mean = batch, mean
        internal_keras.sync_training_state(self.model)  # JAX: fit holds the step count outside the variable
        iterations = int(ops.convert_to_numpy(internal_keras.schedule_step(self.driven_optimizer())))
        step = iterations - 1 - self.first_step  # the sweep step just applied
        if not math.isfinite(loss):
            self._diverged = True
            self.model.stop_training = True
            return
        self._average = self.beta * self._average + (1 - self.beta) * loss
        smoothed = self._average / (1 - self.beta ** (len(self._losses) + 1))
        self._lrs.append(float(ops.convert_to_numpy(self.schedule(step))))
        self._losses.append(loss)
        self._smoothed.append(smoothed)
        self._best = min(self._best, smoothed)
        if smoothed > self.diverge_threshold * self._best:
            self._diverged = True
            self.model.stop_training = True
        if step + 1 >= self.schedule.num_steps:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)
        self.result = LRFinderResult(
            lrs=np.asarray(self._lrs),
            losses=np.asarray(self._losses),
            smoothed_losses=np.asarray(self._smoothed),
            diverged=self._diverged,
            num_steps=self.schedule.num_steps,
        )


def _batches(x, y, batch_size, seed):
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError("`y` must be None when `x` is a tf.data.Dataset.")
        return x.repeat()
    data = (x,) if y is None else (x, y)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    dataset = dataset.shuffle(len(x), seed=seed).repeat().batch(batch_size)
    return dataset


def lr_find(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    batch_size: int = 32,
    beta: float = 0.98,
    diverge_threshold: float = 4.0,
    seed: int = 0,
    verbose: int = 0,
    optimizer: keras.optimizers.Optimizer | str | None = None,
    monitor: str = "loss",
) -> LRFinderResult:
    """Runs a learning-rate range test on a compiled model, then puts it back.

    Trains for up to `num_steps` steps while the rate grows exponentially from
    `start_lr` to `end_lr`, stopping early if the loss diverges. Afterwards
    every model variable and every optimizer variable (slots, iteration count,
    rate) is restored bit for bit, so the model trains next as if this never ran.

    Args:
        model: a compiled Keras model.
        x: numpy inputs, or a batched `tf.data.Dataset` of ``(x, y)`` (repeated
            as needed).
        y: numpy targets (None with a dataset).
        start_lr: rate at the first step, > 0 (as `LRFinder`).
        end_lr: rate at the last step, > `start_lr`.
        num_steps: most steps of the sweep, >= 2.
        beta: smoothing of the loss, in [0, 1).
        diverge_threshold: stop when smoothed loss > threshold * best; > 1.
        batch_size: batch size for numpy inputs, >= 1.
        seed: shuffle seed for numpy inputs.
        verbose: passed to `fit`.
        optimizer: the optimizer to sweep, as in `LRFinder` (an optimizer the
            model holds or the name of its attribute, ``"d_optimizer"`` for the
            Keras guide's GAN); None sweeps the model's only optimizer and
            raises when it holds several. Every optimizer the model holds is
            restored afterwards.
        monitor: the logged loss to record, as in `LRFinder`.

    Returns:
        `LRFinderResult` with `lrs`, `losses`, `suggestion` and `plot(path)`.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(), "mse")
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((64, 4)), rng.random((64, 1))
    >>> result = kerasplus.lr_find(model, x, y, start_lr=1e-4, end_lr=0.1, num_steps=20)
    >>> len(result.lrs), round(float(result.lrs[0]), 6)
    (20, 0.0001)
    >>> model.optimizer.learning_rate = result.suggestion  # then train as usual
    """
    # The range test replaces a scheduled rate on purpose; everything is put back afterwards.
    finder = LRFinder(
        start_lr,
        end_lr,
        num_steps,
        beta,
        diverge_threshold,
        optimizer=optimizer,
        override_schedule=True,
        monitor=monitor,
    )
    v.check_int("batch_size", batch_size, minimum=1)
    v.check_int("seed", seed)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received model={model!r} of type {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "lr_find needs a compiled model: call model.compile(optimizer, loss) first "
            f"(received an uncompiled {type(model).__name__})."
        )
    _optimizer_choice.chosen_optimizer(model, optimizer, "lr_find")  # several optimizers and none named: raise now
    dataset = _batches(x, y, batch_size, seed)
    _model_snapshot.build_for(model, next(iter(dataset)))
    snapshot = _model_snapshot.ModelSnapshot(model)
    try:
        model.fit(
            dataset,
            epochs=1,
            steps_per_epoch=num_steps,
            shuffle=False,
            callbacks=[finder],
            verbose=verbose,
        )
    finally:
        snapshot.restore()
    return finder.result
