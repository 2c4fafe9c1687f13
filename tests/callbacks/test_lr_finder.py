import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import kerasplus
from kerasplus.callbacks import LRFinder, LRFinderResult, lr_find


def digits_model():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.AdamW(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model, x, y


def snapshot(model):
    return [ops.convert_to_numpy(v).copy() for v in model.variables + model.optimizer.variables]


def test_lr_find_restores_model_and_optimizer_bit_for_bit():
    model, x, y = digits_model()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    before = snapshot(model)
    rate_before = model.optimizer._learning_rate
    result = lr_find(model, x, y, start_lr=1e-5, end_lr=1.0, num_steps=30)
    after = snapshot(model)
    assert len(before) == len(after) > 10
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer._learning_rate is rate_before
    assert len(result.lrs) == 30


def test_training_after_lr_find_is_the_same_as_without_it():
    def trained(run_lr_find):
        keras.utils.set_random_seed(1)
        model, x, y = digits_model()
        if run_lr_find:
            lr_find(model, x, y, start_lr=1e-5, end_lr=1.0, num_steps=20)
        model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
        return [ops.convert_to_numpy(w) for w in model.weights]

    for a, b in zip(trained(False), trained(True)):
        np.testing.assert_array_equal(a, b)


def test_lr_find_sweeps_exponentially_and_records_each_batch_loss():
    # Loss = the batch's own label mean, whatever the weights: exact expected values.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), loss=lambda y_true, y_pred: ops.mean(y_true) + 0.0 * ops.sum(y_pred))
    labels = np.linspace(1.0, 3.0, 40, dtype="float32")  # decreasing loss would not trigger a stop
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((40, 1), "float32"), labels)).batch(4)
    result = lr_find(model, dataset, start_lr=1e-4, end_lr=1e-1, num_steps=10)
    np.testing.assert_allclose(result.lrs, np.geomspace(1e-4, 1e-1, 10), rtol=1e-6)
    np.testing.assert_allclose(result.losses, labels.reshape(10, 4).mean(axis=1), rtol=1e-5)
    beta, average, smoothed = 0.98, 0.0, []
    for i, loss in enumerate(result.losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**i))
    np.testing.assert_allclose(result.smoothed_losses, smoothed, rtol=1e-12)
    assert not result.diverged


def test_lr_find_stops_when_the_loss_diverges():
    model, x, y = digits_model()
    model.compile(keras.optimizers.SGD(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    result = lr_find(model, x, y, start_lr=1e-3, end_lr=1e6, num_steps=80)
    assert result.diverged
    assert 5 < len(result.lrs) < 80
    assert np.isfinite(result.losses).all()


def test_suggestions_on_a_known_curve():
    lrs = np.geomspace(1e-6, 1.0, 100)
    log_lr = np.log10(lrs)
    # Falls fastest at 1e-3 (tanh centred there), bottoms out, then rises after 1e-1.
    losses = 2.0 - np.tanh(2.0 * (log_lr + 3.0)) + np.where(log_lr > -1.0, 20.0 * (log_lr + 1.0) ** 2, 0.0)
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed_losses=losses, diverged=False)
    assert result.suggestion_steep == pytest.approx(1e-3, rel=0.15)
    # The valley lies inside the descending stretch, before the minimum.
    assert 1e-5 < result.suggestion_valley < lrs[np.argmin(losses)]
    assert result.suggestion == result.suggestion_valley


def test_plot_writes_a_png(tmp_path):
    lrs = np.geomspace(1e-5, 1.0, 30)
    losses = 1.0 + (np.log10(lrs) + 2.0) ** 2
    result = LRFinderResult(lrs=lrs, losses=losses, smoothed_losses=losses, diverged=False)
    path = result.plot(tmp_path / "lr.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_lr_finder_callback_in_a_users_fit_under_xla():
    model, x, y = digits_model()
    model.compile(model.optimizer, model.loss, jit_compile=True)
    finder = LRFinder(start_lr=1e-4, end_lr=1.0, num_steps=20)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[finder])
    assert len(finder.result.lrs) == 20  # stopped fit after the sweep
    np.testing.assert_allclose(finder.result.lrs, np.geomspace(1e-4, 1.0, 20), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start_lr=1.0, end_lr=1.0), "`start_lr` must be < `end_lr`; received start_lr=1.0, end_lr=1.0"),
        (dict(start_lr=0.0), "`start_lr` must be > 0"),
        (dict(num_steps=1), "`num_steps` must be an integer >= 2"),
        (dict(beta=1.0), r"`beta` must be in \[0.0, 1.0\)"),
        (dict(diverge_threshold=1.0), "`diverge_threshold` must be in"),
    ],
)
def test_lr_finder_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LRFinder(**kwargs)
    with pytest.raises(ValueError, match=message):
        kerasplus.lr_find(None, np.zeros((4, 1)), **kwargs)


def fastai_suggestions(lrs, losses, num_it):
    """A numpy transcription of fastai's `Learner.lr_find` suggestion step (fastai/callback/schedule.py)."""
    lrs, losses = np.asarray(lrs)[num_it // 10 : -5], np.asarray(losses)[num_it // 10 : -5]
    nan_idxs = np.flatnonzero(np.isnan(losses))
    if len(nan_idxs) > 0:
        lrs, losses = lrs[: nan_idxs.min()], losses[: nan_idxs.min()]
    # valley
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    valley = float(lrs[max_start + int(sections) + int(sections / 2)])
    # steep
    grads = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    steep = float(lrs[grads.argmin()])
    return valley, steep


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_steps, recorded", [(15, 15), (100, 100), (100, 37), (40, 12), (25, 25)])
def test_suggestions_follow_fastai_on_random_curves(seed, num_steps, recorded):
    rng = np.random.default_rng(seed)
    lrs = np.geomspace(1e-6, 10.0, num_steps)[:recorded]  # recorded < num_steps: stopped by divergence
    losses = 2.0 + np.cumsum(rng.normal(-0.02, 0.1, recorded))
    result = LRFinderResult(lrs, losses, losses, diverged=recorded < num_steps, num_steps=num_steps)
    valley, steep = fastai_suggestions(lrs, losses, num_steps)
    assert result.suggestion_valley == valley and result.suggestion == valley
    assert result.suggestion_steep == steep


def test_num_steps_15_valley_is_fastais():
    rng = np.random.default_rng(3)
    lrs = np.geomspace(1e-4, 1.0, 15)
    losses = 2.0 - np.linspace(0, 1, 15) + rng.normal(0, 0.05, 15)
    result = LRFinderResult(lrs, losses, losses, diverged=False, num_steps=15)
    assert result.suggestion_valley == fastai_suggestions(lrs, losses, 15)[0]


def test_a_diverged_run_is_trimmed_by_the_requested_steps():
    model, x, y = digits_model()
    model.compile(keras.optimizers.SGD(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    result = lr_find(model, x, y, start_lr=1e-3, end_lr=1e6, num_steps=80)
    assert result.diverged and result.num_steps == 80
    valley, steep = fastai_suggestions(result.lrs, result.smoothed_losses, 80)
    assert result.suggestion_valley == valley and result.suggestion_steep == steep


def test_too_few_steps_for_fastais_rule_is_a_clear_error():
    lrs = np.geomspace(1e-4, 1.0, 6)
    result = LRFinderResult(lrs, lrs, lrs, diverged=True, num_steps=100)
    with pytest.raises(ValueError, match="num_steps=100"):
        _ = result.suggestion_valley


def test_lr_find_on_an_uncompiled_model_says_compile_first():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="needs a compiled model: call model.compile"):
        lr_find(model, np.zeros((8, 4), "float32"), np.zeros((8, 1), "float32"), num_steps=5)


def test_plot_clips_a_spike_on_the_y_axis(tmp_path, monkeypatch):
    import matplotlib.figure

    lrs = np.geomspace(1e-5, 1.0, 60)
    smooth = 1.0 + (np.log10(lrs) + 2.0) ** 2 / 10
    spiked = smooth.copy()
    spiked[30] = 1e6
    limits = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: limits.append(fig.axes[0].get_ylim()))
    LRFinderResult(lrs, spiked, spiked, diverged=False).plot(tmp_path / "a.png")
    LRFinderResult(lrs, smooth, smooth, diverged=False).plot(tmp_path / "b.png")
    spike_limits, plain_limits = limits
    assert spike_limits[1] < 10.0  # the spike (1e6) is off the axis
    kept = smooth[:-5]
    for low, high in (spike_limits, plain_limits):
        assert low <= kept.min() and high >= np.delete(kept, 30).max()
    assert plain_limits[1] < kept.max() * 1.1
