"""find_batch_size: the search on a model that runs out of memory above a known batch size."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.tuning import batch_size_finder, estimated_training_bytes, find_batch_size, is_out_of_memory


def tensorflow_oom():
    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4096,4096]")


def torch_oom():
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def jax_oom():
    from jax.errors import JaxRuntimeError

    return JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1073741824 bytes.")


class OutOfMemoryAbove(keras.Sequential):
    """Raises the backend's out-of-memory error in its train step for batches above `limit`; records the batches."""

    def __init__(self, layers, limit=None, error=tensorflow_oom, step_seconds=None, **kwargs):
        super().__init__(layers, **kwargs)
        self.limit, self.error, self.step_seconds, self.seen = limit, error, step_seconds, []

    def train_step(self, data):
        size = int(data[0].shape[0])
        self.seen.append(size)
        if self.limit is not None and size > self.limit:
            raise self.error()
        if self.step_seconds is not None:
            time.sleep(self.step_seconds(size))
        return super().train_step(data)


def simulated(limit=None, error=tensorflow_oom, step_seconds=None):
    model = OutOfMemoryAbove(
        [keras.Input((4,)), keras.layers.Dense(1)], limit=limit, error=error, step_seconds=step_seconds
    )
    model.compile(keras.optimizers.SGD(0.01), "mse", run_eagerly=True)  # the batch's size is known in the step
    return model


def data(n=256):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def tried(result):
    return [(t.batch_size, t.fits) for t in result.trials]


@pytest.mark.parametrize("error", [tensorflow_oom, torch_oom, jax_oom], ids=["tensorflow", "torch", "jax"])
def test_power_mode_doubles_until_the_first_out_of_memory_error(error):
    model = simulated(limit=2, error=error)
    result = find_batch_size(model, *data(), steps_per_trial=2)
    assert tried(result) == [(2, True), (4, False)]
    assert result.max_batch_size == 2 and result.trials[-1].samples_per_second is None
    assert error().__class__.__name__ in result.trials[-1].error


def test_binsearch_closes_the_gap_to_the_largest_batch_that_fits():
    model = simulated(limit=11)
    result = find_batch_size(model, *data(), mode="binsearch", init_val=8, steps_per_trial=2)
    assert tried(result) == [(8, True), (16, False), (12, False), (10, True), (11, True)]
    assert result.max_batch_size == 11


@pytest.mark.parametrize("mode, sizes, found", [("power", [16, 8, 4], 4), ("binsearch", [16, 8, 4, 6, 5], 5)])
def test_a_failing_init_val_searches_below_it(mode, sizes, found):
    result = find_batch_size(simulated(limit=5), *data(), mode=mode, init_val=16, steps_per_trial=2)
    assert [t.batch_size for t in result.trials] == sizes
    assert result.max_batch_size == found


def test_batch_sizes_stop_at_max_batch_size_and_at_the_number_of_samples():
    result = find_batch_size(simulated(), *data(), max_batch_size=6, steps_per_trial=2)
    assert [t.batch_size for t in result.trials] == [2, 4, 6]
    result = find_batch_size(simulated(), *data(n=5), steps_per_trial=2)
    assert [t.batch_size for t in result.trials] == [2, 4, 5]
    result = find_batch_size(simulated(), *data(), max_trials=2, steps_per_trial=2)
    assert [t.batch_size for t in result.trials] == [2, 4]


def test_each_trial_runs_steps_per_trial_steps_of_its_batch_size():
    model = simulated(limit=4)
    find_batch_size(model, *data(), steps_per_trial=3)
    assert model.seen == [2, 2, 2, 4, 4, 4, 8]


def test_the_fastest_batch_is_the_one_with_the_most_samples_per_second(monkeypatch):
    # A clock the steps advance: 30 ms a step up to 16 samples, then growing as the square.
    # The first step of a trial (tracing) takes 10 s and must not count.
    clock = {"now": 0.0, "steps": 0}

    def step_seconds(b):
        clock["steps"] += 1
        clock["now"] += 10.0 if clock["steps"] % 3 == 1 else 0.03 * max(1.0, (b / 16) ** 2)
        return 0.0

    monkeypatch.setattr(batch_size_finder, "_now", lambda: clock["now"])
    model = simulated(step_seconds=step_seconds)
    result = find_batch_size(model, *data(), init_val=4, max_batch_size=64, steps_per_trial=3)
    assert [t.batch_size for t in result.trials] == [4, 8, 16, 32, 64]
    assert result.fastest_batch_size == 16 and result.max_batch_size == 64
    rates = {t.batch_size: t.samples_per_second for t in result.trials}
    expected = {4: 4 / 0.03, 8: 8 / 0.03, 16: 16 / 0.03, 32: 32 / 0.12, 64: 64 / 0.48}
    assert rates == pytest.approx(expected, rel=1e-9)


def test_other_errors_are_raised_and_nothing_fitting_is_an_error():
    class Broken(OutOfMemoryAbove):
        def train_step(self, data):
            raise ValueError("a real bug")

    model = Broken([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", run_eagerly=True)
    with pytest.raises(ValueError, match="a real bug"):
        find_batch_size(model, *data())
    with pytest.raises(RuntimeError, match=r"no batch size trained; tried 2 \(ResourceExhaustedError.*1 \("):
        find_batch_size(simulated(limit=0), *data())


def model_with_state():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01, gradient_accumulation_steps=2), "mse")
    return model


def state(model):
    variables = list(model.variables) + list(model.optimizer.variables)
    return [keras.ops.convert_to_numpy(x).copy() for x in variables]


def test_weights_optimizer_variables_and_iterations_are_restored_bit_exactly():
    x, y = data()
    model = model_with_state()
    model.fit(x[:12], y[:12], batch_size=4, verbose=0)  # 3 batches: slots, moving statistics, one accumulated
    before = state(model)
    limit = estimated_training_bytes(model, 20)
    result = find_batch_size(model, x, y, mode="binsearch", init_val=16, memory_limit=limit, steps_per_trial=2)
    assert tried(result) == [(16, True), (32, False), (24, False), (20, True), (22, False), (21, False)]
    after = state(model)
    assert len(after) == len(before)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert int(model.optimizer.iterations) == 1 and not model.stop_training
    # The same next step as a twin that never searched.
    twin = model_with_state()
    twin.fit(x[:12], y[:12], batch_size=4, verbose=0)
    model.fit(x[:8], y[:8], batch_size=4, verbose=0, shuffle=False)
    twin.fit(x[:8], y[:8], batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(state(model), state(twin)):
        np.testing.assert_array_equal(a, b)


def test_memory_limit_refuses_a_batch_before_running_it_by_the_estimate_of_its_activations():
    model = simulated()
    # Dense(4 -> 1): 5 weights (20 B) + their gradients (20 B) + SGD's step and rate (12 B);
    # per sample the input (4 floats) and the output (1 float), twice: 40 B.
    assert estimated_training_bytes(model, 10) == 20 + 20 + 12 + 10 * 40
    limit = estimated_training_bytes(model, 16)
    result = find_batch_size(model, *data(), init_val=8, memory_limit=limit, steps_per_trial=2)
    assert result.max_batch_size == 16 and 32 not in model.seen  # refused without a step
    refused = result.trials[-1]
    assert (refused.batch_size, refused.fits, refused.estimated_bytes) == (32, False, 52 + 32 * 40)
    assert f"memory_limit={limit}" in refused.error


def test_memory_limit_needs_layers_with_known_shapes():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="memory_limit needs a Sequential or functional model"):
        find_batch_size(model, *data(), memory_limit=10**6)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(mode="linear"), ValueError, "mode"),
        (dict(init_val=0), ValueError, "init_val"),
        (dict(max_batch_size=0), ValueError, "max_batch_size"),
        (dict(max_trials=0), ValueError, "max_trials"),
        (dict(steps_per_trial=1), ValueError, "steps_per_trial"),
        (dict(memory_limit=0), ValueError, "memory_limit"),
        (dict(memory_limit=1.5), TypeError, "memory_limit"),
    ],
)
def test_bad_arguments_are_rejected_by_name_value_and_range(kwargs, error, name):
    with pytest.raises(error, match=rf"`{name}`.*received {name}="):
        find_batch_size(simulated(), *data(), **kwargs)


def test_an_uncompiled_model_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="needs a compiled model"):
        find_batch_size(model, *data())


def test_out_of_memory_errors_are_told_from_others():
    assert is_out_of_memory(tensorflow_oom()) and is_out_of_memory(torch_oom()) and is_out_of_memory(jax_oom())
    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(ValueError("Incompatible shapes")) and not is_out_of_memory(
        tf.errors.InternalError(None, None, "x")
    )
