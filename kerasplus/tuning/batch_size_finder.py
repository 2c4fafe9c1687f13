"""The largest batch that fits, and the fastest one (Lightning's `BatchSizeFinder`)."""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from typing import Any

import keras
import numpy as np

from kerasplus import _model_snapshot
from kerasplus import _validation as v

MODES = ("power", "binsearch")
_now = time.perf_counter  # the clock the trials are timed with


@dataclasses.dataclass
class BatchSizeTrial:
    """One candidate batch size tried by `find_batch_size`.

    Attributes:
        batch_size: the candidate.
        fits: whether its steps ran (False: out of memory, or over `memory_limit`).
        samples_per_second: training throughput over the trial's steps after
            the first (which traces and compiles); None when it did not fit.
        estimated_bytes: the `memory_limit` estimate for this batch size (None
            without a `memory_limit`).
        error: the out-of-memory error's class and first line, or why the
            estimate refused it; None when it fit.

    Example:

    >>> from kerasplus.tuning import BatchSizeTrial
    >>> BatchSizeTrial(64, True, 812.5).samples_per_second
    812.5
    """

    batch_size: int
    fits: bool
    samples_per_second: float | None = None
    estimated_bytes: int | None = None
    error: str | None = None


@dataclasses.dataclass
class BatchSizeResult:
    """What `find_batch_size` found.

    Attributes:
        max_batch_size: the largest batch size that fitted.
        fastest_batch_size: the batch size with the most samples per second
            among those that fitted.
        trials: every `BatchSizeTrial`, in the order they ran.

    Example:

    >>> from kerasplus.tuning import BatchSizeResult, BatchSizeTrial
    >>> result = BatchSizeResult(64, 32, [BatchSizeTrial(32, True, 900.0), BatchSizeTrial(64, True, 800.0),
    ...                                   BatchSizeTrial(128, False, error="ResourceExhaustedError")])
    >>> result.max_batch_size, result.fastest_batch_size, len(result.trials)
    (64, 32, 3)
    """

    max_batch_size: int
    fastest_batch_size: int
    trials: list[BatchSizeTrial]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is a backend's out-of-memory error.

    TensorFlow's `ResourceExhaustedError`, PyTorch's `OutOfMemoryError`
    (``torch.cuda.OutOfMemoryError``), JAX/XLA's runtime error whose message
    starts with ``RESOURCE_EXHAUSTED``, Python's `MemoryError`, or any error
    saying "out of memory" (PyTorch's older `RuntimeError`).

    Args:
        error: the exception a training step raised.

    Returns:
        True for an out-of-memory error.

    Example:

    >>> import tensorflow as tf
    >>> from kerasplus.tuning import is_out_of_memory
    >>> is_out_of_memory(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"))
    True
    >>> is_out_of_memory(ValueError("shapes do not match"))
    False
    """
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & {"ResourceExhaustedError", "OutOfMemoryError", "MemoryError"}:
        return True
    message = str(error)
    return "RESOURCE_EXHAUSTED" in message or "out of memory" in message.lower()


def _free_memory():
    gc.collect()
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _num_samples(x) -> int:
    lengths = {len(a) for a in keras.tree.flatten(x)}
    if len(lengths) != 1:
        raise ValueError(f"Every array of `x` (and `y`) must hold the same number of samples; received {lengths}.")
    return lengths.pop()


def _itemsize(dtype) -> int:
    return np.dtype(keras.backend.standardize_dtype(dtype)).itemsize


def _variables_bytes(variables) -> int:
    return sum(math.prod(x.shape) * _itemsize(x.dtype) for x in variables)


def _activation_bytes_per_sample(model) -> int:
    """Bytes of every layer's output for one sample, from the layers' symbolic output shapes."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.layers:
            total += _activation_bytes_per_sample(layer)
            continue
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError) as error:
            raise ValueError(
                "memory_limit needs a Sequential or functional model: its estimate adds up the layers' output "
                f"shapes, and layer {layer.name!r} of {type(model).__name__} has no single output "
                f"({error}). Leave memory_limit=None to rely on the backend's out-of-memory errors."
            ) from None
        total += sum(_output_bytes(output, f"layer {layer.name!r}") for output in outputs)
    return total


def _output_bytes(tensor, what) -> int:
    shape = tuple(tensor.shape)[1:]
    if any(d is None for d in shape):
        raise ValueError(
            f"memory_limit cannot size {what}: its shape {tuple(tensor.shape)} has unknown dimensions "
            "besides the batch. Give the model's Input a full shape, or leave memory_limit=None."
        )
    return math.prod(shape) * _itemsize(tensor.dtype)


def estimated_training_bytes(model: keras.Model, batch_size: int) -> int:
    """The `memory_limit` estimate of one training step at `batch_size`, in bytes.

    The model's and optimizer's variables, one gradient per trainable weight,
    and for every sample the inputs and each layer's output twice (kept for the backward
    pass, and its gradient there). Builds an unbuilt optimizer of a built
    model, so that its slots count. A static estimate from the shapes: it
    measures nothing (a process's peak resident memory does not come back
    down between trials, and `tracemalloc` does not see the backends'
    allocations), so give a `memory_limit` with room to spare.

    Args:
        model: a compiled Sequential or functional model with full input shapes.
        batch_size: the batch size, >= 1.

    Returns:
        The estimate in bytes.

    Example:

    >>> import keras, kerasplus
    >>> model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(5)])
    >>> model.compile("sgd", "mse")
    >>> # weights 220 B, gradients 220 B, SGD's step and rate 12 B, 2 x 4 x (10 + 5) x 4 B of activations
    >>> kerasplus.tuning.estimated_training_bytes(model, batch_size=4)
    932
    """
    batch_size = v.check_int("batch_size", batch_size, minimum=1)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built and model.built:
        optimizer.build(model.trainable_variables)  # its slots count (find_batch_size builds it too)
    fixed = _variables_bytes(model.variables) + _variables_bytes(model.trainable_variables)
    if optimizer is not None:
        fixed += _variables_bytes(optimizer.variables)
    activations = _activation_bytes_per_sample(model)  # first: names the layer of a model it cannot size
    inputs = keras.tree.flatten(getattr(model, "inputs", None) or [])
    activations += sum(_output_bytes(tensor, "the model's input") for tensor in inputs)
    return fixed + 2 * batch_size * activations


class _StepClock(keras.callbacks.Callback):
    """Times the batches of one trial after the first (tracing and compiling)."""

    def __init__(self):
        super().__init__()
        self.first = None  # (batch index, time) at the end of the first step
        self.last = None

    def on_train_batch_end(self, batch, logs=None):
        now = _now()
        if self.first is None:
            self.first = (batch, now)
        else:
            self.last = (batch, now)

    def samples_per_second(self, batch_size):
        if self.first is None or self.last is None or self.last[1] <= self.first[1]:
            return None
        return batch_size * (self.last[0] - self.first[0]) / (self.last[1] - self.first[1])


def _trial_data(x, y, batch_size, steps, num_samples):
    """`steps` batches of `batch_size` samples, cycling through the data in order."""
    index = np.arange(batch_size * steps) % num_samples

    def take(a):
        return np.asarray(a)[index]

    return keras.tree.map_structure(take, x), None if y is None else keras.tree.map_structure(take, y)


def _candidates(mode, init_val, cap, max_trials, fits):
    """Lightning's search: double while it fits, then (binsearch) halve the gap to the first failure.

    `fits(batch_size)` runs one trial; returns once the search is over.
    """
    low, high = 0, None  # largest that fitted, smallest that did not
    size, trials = min(init_val, cap), 0
    while trials < max_trials and size >= 1:
        trials += 1
        if fits(size):
            low = size
            if high is not None and mode == "power":  # halved below a failing init_val: the first that fits
                return
            if high is None:
                if size >= cap:
                    return
                size = min(2 * size, cap)
                continue
        else:
            high = size
            if low and mode == "power":
                return
        if high is not None:
            if high - low <= 1:
                return
            size = (low + high) // 2 if mode == "binsearch" or low else high // 2


def find_batch_size(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    mode: str = "power",
    init_val: int = 2,
    max_batch_size: int | None = None,
    max_trials: int = 25,
    steps_per_trial: int = 3,
    memory_limit: int | None = None,
    verbose: int = 0,
) -> BatchSizeResult:
    """Finds the largest batch size that trains, and the fastest, then puts the model back.

    Lightning's `BatchSizeFinder` for Keras: from `init_val` the batch size
    doubles while a trial of `steps_per_trial` training steps runs; ``"power"``
    stops at the first failure, ``"binsearch"`` then halves the gap between the
    largest size that fitted and the smallest that did not until they are 1
    apart (when `init_val` already fails, both search below it). A trial fails
    on the backend's out-of-memory error (TensorFlow `ResourceExhaustedError`,
    PyTorch `OutOfMemoryError`, JAX ``RESOURCE_EXHAUSTED``; other errors are
    raised), or, with `memory_limit`, before it runs when
    `estimated_training_bytes` exceeds the limit: on a CPU, where running out
    of memory means swapping or the kernel killing the process rather than an
    error, that estimate stands in for one. Every trial measures samples per
    second over its steps after the first (which traces and compiles).

    Batches are the first samples of `x`/`y` in order, cycled, and a batch
    size never exceeds their number. Afterwards every model variable and
    every optimizer variable (slots, iteration count, rate, gradient
    accumulators) is restored bit for bit, as `lr_find` does, so the model
    trains next as if this never ran.

    Args:
        model: a compiled Keras model.
        x: numpy inputs (an array, or a list/dict of arrays).
        y: numpy targets, or None.
        mode: ``"power"`` or ``"binsearch"``.
        init_val: the first batch size tried, >= 1.
        max_batch_size: the largest batch size tried, >= 1; None: the number
            of samples in `x`.
        max_trials: most trials, >= 1.
        steps_per_trial: training steps per trial, >= 2 (the first is not
            timed).
        memory_limit: bytes a training step may take by the estimate, > 0;
            None relies on the backend's errors.
        verbose: passed to each trial's `fit`.

    Returns:
        A `BatchSizeResult` with `max_batch_size`, `fastest_batch_size` and
        the `trials`.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    >>> model.compile("adam", "mse")
    >>> x, y = np.zeros((256, 8), "float32"), np.zeros((256, 1), "float32")
    >>> limit = kerasplus.tuning.estimated_training_bytes(model, 100)  # bytes
    >>> result = kerasplus.tuning.find_batch_size(model, x, y, init_val=16, memory_limit=limit)
    >>> result.max_batch_size, [t.batch_size for t in result.trials]
    (64, [16, 32, 64, 128])
    """
    mode = v.check_choice("mode", mode, MODES)
    init_val = v.check_int("init_val", init_val, minimum=1)
    max_batch_size = v.check_optional_int("max_batch_size", max_batch_size, minimum=1)
    max_trials = v.check_int("max_trials", max_trials, minimum=1)
    steps_per_trial = v.check_int("steps_per_trial", steps_per_trial, minimum=2)
    if memory_limit is not None:
        memory_limit = v.check_int("memory_limit", memory_limit, minimum=1)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received model={model!r} of type {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "find_batch_size needs a compiled model: call model.compile(optimizer, loss) first "
            f"(received an uncompiled {type(model).__name__})."
        )
    num_samples = _num_samples(x if y is None else (x, y))
    cap = num_samples if max_batch_size is None else min(max_batch_size, num_samples)
    _model_snapshot.build_for(model, _trial_data(x, y, 1, 1, num_samples))
    snapshot = _model_snapshot.ModelSnapshot(model)
    trials: list[BatchSizeTrial] = []

    def fits(batch_size):
        estimate = None if memory_limit is None else estimated_training_bytes(model, batch_size)
        if estimate is not None and estimate > memory_limit:
            trials.append(
                BatchSizeTrial(
                    batch_size,
                    False,
                    estimated_bytes=estimate,
                    error=f"estimated {estimate} bytes > memory_limit={memory_limit}",
                )
            )
            return False
        xs, ys = _trial_data(x, y, batch_size, steps_per_trial, num_samples)
        clock = _StepClock()
        try:
            model.fit(xs, ys, batch_size=batch_size, epochs=1, shuffle=False, verbose=verbose, callbacks=[clock])
        except Exception as error:  # noqa: BLE001 - only out-of-memory errors are a result; others re-raised
            if not is_out_of_memory(error):
                raise
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            trials.append(BatchSizeTrial(batch_size, False, None, estimate, f"{type(error).__name__}: {first_line}"))
            return False
        finally:
            del xs, ys
            snapshot.restore()
            _free_memory()
        trials.append(BatchSizeTrial(batch_size, True, clock.samples_per_second(batch_size), estimate))
        return True

    try:
        _candidates(mode, init_val, cap, max_trials, fits)
    finally:
        snapshot.restore()
    fitted = [trial for trial in trials if trial.fits]
    if not fitted:
        raise RuntimeError(
            "find_batch_size: no batch size trained; tried "
            + ", ".join(f"{t.batch_size} ({t.error})" for t in trials)
            + ". Use a smaller model or inputs, or a larger memory_limit."
        )
    timed = [trial for trial in fitted if trial.samples_per_second is not None]
    fastest = max(timed, key=lambda t: t.samples_per_second) if timed else max(fitted, key=lambda t: t.batch_size)
    return BatchSizeResult(
        max_batch_size=max(trial.batch_size for trial in fitted),
        fastest_batch_size=fastest.batch_size,
        trials=trials,
    )
