"""`FitDiagnostics`: a per-epoch verdict on the learning curves, gradient and dead-ReLU probes."""

from __future__ import annotations

import copy
import logging
import math

import keras
import numpy as np

from kerasplus import _validation as v
from kerasplus.diagnostics import _probes
from kerasplus.diagnostics.verdicts import VERDICT_CODES, curve_verdict

logger = logging.getLogger(__name__)

ADVICE = {
    "good fit": "nothing to change.",
    "underfitting": (
        "more capacity (wider or deeper), train longer or at a higher learning rate "
        "(kerasplus.lr_find), less regularization."
    ),
    "overfitting": (
        "more data or augmentation, more regularization (dropout, weight decay), a "
        "smaller model, or early stopping with restore_best_weights=True."
    ),
    "diverging": (
        "lower the learning rate (kerasplus.lr_find), add warm-up "
        "(kerasplus.callbacks.WarmupLR) or gradient clipping (clipnorm=1.0); check the "
        "inputs for NaN."
    ),
    "vanishing": (
        "He init for ReLU stacks (kerasplus.initializers.reinitialize), ReLU-family "
        "activations instead of sigmoid/tanh in deep stacks, normalization layers, "
        "residual connections."
    ),
    "exploding": "gradient clipping (clipnorm=1.0), a lower learning rate, normalization layers.",
}


class FitDiagnostics(keras.callbacks.Callback):
    """Says each epoch whether the run underfits, fits, overfits or diverges, and why.

    **Verdict** (from the epoch's ``loss`` and ``val_loss``; see
    `kerasplus.diagnostics.verdicts` for the same rules as a function),
    checked in this order at epoch ``e``, ``L`` the training and ``V`` the
    validation loss per epoch:

    1. *diverging*: ``L[e]`` or ``V[e]`` is not finite, or ``L[e] > L[0]`` and
       ``L[e] > divergence_factor * min(L)``.
    2. *overfitting*: for the last `patience` epochs ``V`` stayed above
       ``(1 + overfit_tolerance) * V[b]``, ``b`` the epoch of the best ``V``,
       while ``L[e] < L[b]`` (Prechelt's generalization loss).
    3. *underfitting*: ``L[e] > underfit_ratio * B``, ``B`` the baseline loss:
       `baseline_loss` if given; else the loss of the best constant prediction
       on the held batch (mean target for MSE, label frequencies for the
       crossentropies, computed with the model's own loss); else the loss of
       the untrained model on the held batch; else ``L[0]``.
    4. otherwise *good fit*.

    With ``validation_freq > 1`` an epoch with validation is judged on the
    validated epochs only (`patience` counts those), one without on the
    training curve alone.

    **Gradient norms** (needs `held_batch`; every backend): when `fit`
    begins and then every `gradient_every` calls of ``on_train_batch_end``
    (batches, or executions with ``steps_per_execution > 1``), the loss on the
    held batch is differentiated outside the compiled train step
    (`tf.GradientTape`, `jax.grad` of the model's stateless loss, or torch
    autograd), with
    ``training=False`` so no BatchNormalization statistic or dropout seed
    moves. Per layer (its trainable weights together) the L2 norm is kept. A
    layer is *vanishing* when its norm is below ``vanishing_ratio`` times the
    largest layer norm, *exploding* when its norm is not finite or above
    `exploding_norm`.

    **Dead ReLUs** (needs `held_batch` and a Sequential/functional model): at
    each epoch end, the share of units of ReLU-activated layers whose output is
    0 for every example of the held batch (last axis = units).

    **Logs**: each epoch's logs gain ``diag_verdict`` (0 good fit, 1
    underfitting, 2 overfitting, 3 diverging), ``diag_grad_norm_min``,
    ``diag_grad_norm_max``, ``diag_vanishing_layers``,
    ``diag_exploding_layers`` (counts; all from the latest gradient sample)
    and ``diag_dead_relu``; with ``log_per_layer=True`` also
    ``diag_grad_norm/<layer>``. Put this callback before `TensorBoard` /
    `CSVLogger` in the list so they record them. `report()` gives the table
    and the advice as text; `records` holds it per epoch.

    Args:
        held_batch: a batch kept aside for the probes (a few dozen to a few
            hundred examples): ``(x, y)`` with `y` of any shape `fit` accepts
            for the compiled loss (``(n,)`` labels for a ``Dense(1)`` output
            too); or `x` alone (an array, a dict of arrays, ``(x,)`` or
            ``(x, None)``) for the probes that need no labels (dead ReLUs); or
            None for verdicts only. `x` may be a dict or a list, as `fit` takes.
        gradient_every: probe gradients every this many batch ends (>= 1), or
            None for no gradient probe.
        baseline_loss: the loss of a trivial predictor, > 0, or None (see above).
        underfit_ratio: in (0, 1].
        overfit_tolerance: relative rise of the validation loss, >= 0.
        patience: epochs the rise must last, >= 1.
        divergence_factor: > 1.
        vanishing_ratio: in (0, 1).
        exploding_norm: > 0.
        log_per_layer: also log each layer's gradient norm.
        verbose: 1 prints the verdict and its reason every epoch.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> y = (x[:, :1] * x[:, 1:] > 0).astype("float32")     # XOR-like: not linear
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    >>> model.compile("sgd", "binary_crossentropy")
    >>> diagnostics = kerasplus.diagnostics.FitDiagnostics(held_batch=(x, y), gradient_every=2)
    >>> history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[diagnostics])
    >>> diagnostics.verdict
    'underfitting'
    >>> history.history["diag_verdict"]
    [1.0, 1.0]
    """

    def __init__(
        self,
        held_batch: tuple | None = None,
        gradient_every: int | None = 100,
        baseline_loss: float | None = None,
        underfit_ratio: float = 0.5,
        overfit_tolerance: float = 0.1,
        patience: int = 3,
        divergence_factor: float = 2.0,
        vanishing_ratio: float = 1e-4,
        exploding_norm: float = 1e3,
        log_per_layer: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.held_batch = _held_pair(held_batch)
        self.gradient_every = v.check_optional_int("gradient_every", gradient_every, minimum=1)
        self.baseline_loss = None if baseline_loss is None else v.check_positive("baseline_loss", baseline_loss)
        self.underfit_ratio = v.check_range("underfit_ratio", underfit_ratio, 0.0, 1.0, low_inclusive=False)
        self.overfit_tolerance = v.check_non_negative("overfit_tolerance", overfit_tolerance)
        self.patience = v.check_int("patience", patience, minimum=1)
        self.divergence_factor = v.check_number("divergence_factor", divergence_factor)
        if self.divergence_factor <= 1.0:
            raise ValueError(f"`divergence_factor` must be > 1; received divergence_factor={divergence_factor!r}.")
        self.vanishing_ratio = v.check_range(
            "vanishing_ratio", vanishing_ratio, 0.0, 1.0, low_inclusive=False, high_inclusive=False
        )
        self.exploding_norm = v.check_positive("exploding_norm", exploding_norm)
        self.log_per_layer = v.check_bool("log_per_layer", log_per_layer)
        self.verbose = v.check_choice("verbose", verbose, (0, 1))
        if self.held_batch is None or self.gradient_every is None:
            # No per-batch work: keep Keras's default hook, so that on backends
            # where fit dispatches batch callbacks asynchronously (JAX, torch)
            # this callback does not turn that off.
            self.on_train_batch_end = keras.callbacks.Callback.on_train_batch_end.__get__(self)
        self._reset()

    def _reset(self):
        self.records = []  # one dict per epoch
        self.gradient_samples = []  # (batch-end call, {layer: norm})
        self.baseline = self.baseline_loss
        self.baseline_source = "given" if self.baseline_loss is not None else None
        self._calls = 0
        self._resumed = False

    # ----------------------------------------------------------------- state
    def get_state(self) -> dict:
        """Plain data to resume from: the per-epoch records, samples, baseline."""
        return copy.deepcopy(
            {
                "records": self.records,
                "gradient_samples": self.gradient_samples,
                "baseline": self.baseline,
                "baseline_source": self.baseline_source,
                "calls": self._calls,
            }
        )

    def set_state(self, state: dict) -> None:
        state = copy.deepcopy(state)
        self.records = list(state["records"])
        self.gradient_samples = [tuple(sample) for sample in state["gradient_samples"]]
        self.baseline = state["baseline"]
        self.baseline_source = state["baseline_source"]
        self._calls = int(state["calls"])
        self._resumed = True

    def get_config(self) -> dict:
        """The constructor arguments, except `held_batch` (data, not configuration)."""
        return {
            "gradient_every": self.gradient_every,
            "baseline_loss": self.baseline_loss,
            "underfit_ratio": self.underfit_ratio,
            "overfit_tolerance": self.overfit_tolerance,
            "patience": self.patience,
            "divergence_factor": self.divergence_factor,
            "vanishing_ratio": self.vanishing_ratio,
            "exploding_norm": self.exploding_norm,
            "log_per_layer": self.log_per_layer,
            "verbose": self.verbose,
        }

    # ------------------------------------------------------------- callbacks
    @property
    def verdict(self) -> str | None:
        """The last epoch's verdict (None before the first epoch ends)."""
        return self.records[-1]["verdict"] if self.records else None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self._resumed:  # a new fit starts new curves; set_state continues them
            self._reset()
        self._resumed = False
        self._layers = _probes.weighted_layers(self.model)
        self._relu_names, self._relu_probe = [], None
        if self.held_batch is None:
            return
        x, y = self.held_batch
        self._held = (
            keras.tree.map_structure(keras.ops.convert_to_tensor, x),
            None if y is None else keras.tree.map_structure(keras.ops.convert_to_tensor, y),
        )
        x, y = self._held
        if y is not None and _probes.loss_function(self.model) is not None:
            # (n,) labels for a (n, 1) output, as fit's compiled loss aligns them; once, here, outside any trace
            y = _probes.same_rank(y, self.model(x, training=False))
            self._held = (x, y)
        if self.gradient_every is not None and getattr(self.model, "loss", None) is None:
            raise ValueError(
                "FitDiagnostics's gradient probe needs a model compiled with a loss; "
                "pass gradient_every=None for a model that computes its own loss."
            )
        if self.gradient_every is not None and y is None:
            raise ValueError(
                "FitDiagnostics: the held batch has no labels (x only), and the gradient probe computes "
                "the compiled loss, which needs them: pass held_batch=(x, y), or gradient_every=None."
            )
        self._relu_names, relu_model = _probes.relu_outputs(self.model)
        if relu_model is not None:
            self._relu_probe = _probes.WarmingFunction(relu_model, eager_calls=50)  # once per epoch
        elif y is None and self.gradient_every is None:
            raise ValueError(
                "FitDiagnostics: the held batch (x only) feeds no probe of this model: the dead-ReLU probe needs "
                f"a functional or Sequential model with ReLU layers ({type(self.model).__name__} has none it can "
                "reach) and the gradient probe labels. Pass held_batch=None for verdicts only, or (x, y)."
            )
        if self.baseline is None and y is not None:
            y_pred = self.model(x, training=False)
            self.baseline = _probes.constant_baseline(self.model, y, y_pred)
            self.baseline_source = None if self.baseline is None else "constant prediction"
            if self.baseline is None and _probes.loss_function(self.model) is not None:
                value = float(keras.ops.convert_to_numpy(_probes.probe_loss(self.model, x, y, y_pred)))
                if math.isfinite(value) and value > 0:
                    self.baseline, self.baseline_source = value, "untrained model"
        if self.gradient_every is not None:
            self._gradient_probe = _probes.GradientProbe(self.model, self._layers)
            self._sample_gradients()  # the gradients at the start: vanishing shows here already

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.held_batch is None or self.gradient_every is None:
            return
        self._calls += 1
        if self._calls % self.gradient_every == 0:
            self._sample_gradients()

    def _sample_gradients(self):
        x, y = self._held
        # Reading `self.model` makes Keras's JAX trainer write its state back into the
        # variables (mid-epoch they are left empty); the probe then reads their values.
        self.model  # noqa: B018
        norms = self._gradient_probe(x, y)
        self.gradient_samples.append((self._calls, norms))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        record = {"epoch": epoch + 1, "loss": _float(logs.get("loss")), "val_loss": _float(logs.get("val_loss"))}
        train = [r["loss"] for r in self.records] + [record["loss"]]
        val = [r["val_loss"] for r in self.records] + [record["val_loss"]]
        if record["val_loss"] is not None:  # judged on the epochs that were validated
            train, val = (list(curve) for curve in zip(*[(t, w) for t, w in zip(train, val) if w is not None]))
        else:
            val = None
        if any(value is None for value in train):
            verdict, reason = "good fit", "no training loss in the logs"
        else:
            verdict, reason = curve_verdict(
                train,
                val,
                baseline_loss=self.baseline,
                underfit_ratio=self.underfit_ratio,
                overfit_tolerance=self.overfit_tolerance,
                patience=self.patience,
                divergence_factor=self.divergence_factor,
            )
        record.update(verdict=verdict, reason=reason)
        logs["diag_verdict"] = float(VERDICT_CODES[verdict])
        if self.gradient_samples:
            step, norms = self.gradient_samples[-1]
            vanishing, exploding = _probes.flag_gradients(norms, self.vanishing_ratio, self.exploding_norm)
            record.update(grad_step=step, grad_norms=dict(norms), vanishing=vanishing, exploding=exploding)
            values = list(norms.values())
            logs["diag_grad_norm_min"] = float(np.min(values)) if values else float("nan")
            logs["diag_grad_norm_max"] = float(np.max(values)) if values else float("nan")
            logs["diag_vanishing_layers"] = float(len(vanishing))
            logs["diag_exploding_layers"] = float(len(exploding))
            if self.log_per_layer:
                for name, value in norms.items():
                    logs[f"diag_grad_norm/{name}"] = float(value)
        if self._relu_probe is not None:
            share, per_layer = _probes.dead_relu_fractions(self._relu_probe, self._relu_names, self._held[0])
            record.update(dead_relu=share, dead_relu_per_layer=per_layer)
            logs["diag_dead_relu"] = float(share)
        self.records.append(record)
        if self.verbose:
            if len(self.records) == 1:
                self._say(LEGEND)
            self._say(epoch_line(record))

    def _say(self, message):
        if keras.config.is_interactive_logging_enabled():
            print(message, flush=True)
        else:
            logger.info(message)

    # ---------------------------------------------------------------- report
    def report(self) -> str:
        """The per-epoch table, the last verdict with its reason, and what to try."""
        if not self.records:
            return "FitDiagnostics: no epoch has ended yet."
        lines = [f"FitDiagnostics: {len(self.records)} epochs"]
        if self.baseline is not None:
            lines.append(f"baseline loss {self.baseline:.4g} ({self.baseline_source})")
        lines.append(
            f"{'epoch':>5}  {'loss':>10}  {'val_loss':>10}  {'verdict':<12}  {'grad norm min..max':>20}  "
            f"{'vanish':>6}  {'explode':>7}  {'dead ReLU':>9}"
        )
        for r in self.records:
            norms = r.get("grad_norms")
            span = f"{min(norms.values()):.2e}..{max(norms.values()):.2e}" if norms else "-"
            lines.append(
                f"{r['epoch']:>5}  {_fmt(r['loss']):>10}  {_fmt(r['val_loss']):>10}  {r['verdict']:<12}  "
                f"{span:>20}  {len(r.get('vanishing', [])) if norms else '-':>6}  "
                f"{len(r.get('exploding', [])) if norms else '-':>7}  "
                f"{(format(r['dead_relu'], '.1%') if 'dead_relu' in r else '-'):>9}"
            )
        last = self.records[-1]
        lines.append(f"verdict: {last['verdict']}: {last['reason']}.")
        lines.append(f"  try: {ADVICE[last['verdict']]}")
        for kind in ("vanishing", "exploding"):
            names = last.get(kind) or []
            if names:
                shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
                lines.append(f"{kind} gradients in {len(names)} layer(s): {shown}.")
                lines.append(f"  try: {ADVICE[kind]}")
        if last.get("dead_relu_per_layer"):
            dead = {name: share for name, share in last["dead_relu_per_layer"].items() if share >= 0.5}
            if dead:
                lines.append(
                    "half or more of the ReLU units are dead in: "
                    + ", ".join(f"{name} ({share:.0%})" for name, share in dead.items())
                    + ". try: He init, a lower learning rate, or leaky_relu."
                )
        return "\n".join(lines)


LEGEND = (
    "FitDiagnostics: diag_verdict in the logs: "
    + ", ".join(f"{code} {name}" for name, code in VERDICT_CODES.items())
    + "; report() explains."
)
LINE_WIDTH = 120


def epoch_line(record) -> str:
    """One epoch's verdict as a word and its reason, then as much of the probe summary as fits `LINE_WIDTH`."""
    line = f"FitDiagnostics epoch {record['epoch']}: {record['verdict']} ({record['reason']})"
    parts = []
    norms = record.get("grad_norms")
    if norms:
        parts.append(f"grad norm {min(norms.values()):.1e}..{max(norms.values()):.1e}")
        for kind in ("vanishing", "exploding"):
            if record.get(kind):
                parts.append(f"{len(record[kind])} {kind}")
    if "dead_relu" in record:
        parts.append(f"dead ReLU {record['dead_relu']:.0%}")
    for part in parts:
        if len(line) + 3 + len(part) > LINE_WIDTH:
            break
        line += f" | {part}"
    return line if len(line) <= LINE_WIDTH else line[: LINE_WIDTH - 3] + "..."


def _held_pair(held_batch):
    """``(x, y)``, y None for an x-only batch; None stays None."""
    if held_batch is None:
        return None
    if isinstance(held_batch, tuple) and len(held_batch) == 1:
        return (held_batch[0], None)
    if isinstance(held_batch, (tuple, list)):
        if len(held_batch) != 2:
            raise TypeError(
                "`held_batch` must be (x, y), (x,), x alone (an array or a dict) or None; received a "
                f"{type(held_batch).__name__} of {len(held_batch)} items (a multi-input x goes in a pair: "
                "((x1, x2), y) or ((x1, x2), None))."
            )
        return (held_batch[0], held_batch[1])
    if isinstance(held_batch, (str, bytes)) or not (hasattr(held_batch, "shape") or isinstance(held_batch, dict)):
        raise TypeError(
            "`held_batch` must be (x, y), (x,), x alone (an array or a dict) or None; received "
            f"held_batch of type {type(held_batch).__name__}."
        )
    return (held_batch, None)


def _float(value):
    if value is None:
        return None
    return float(np.asarray(value))


def _fmt(value):
    return "-" if value is None else f"{value:.4g}"
