import keras
import numpy as np
import pytest

from kerasplus.callbacks import BackupAndRestore, StochasticWeightAveraging
from kerasplus.schedules import Join, Warmup
from tests.helpers import rate_probe


class EpochWeights(keras.callbacks.Callback):
    """The trainable weights at every epoch end, as the callbacks after it see them."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([keras.ops.convert_to_numpy(w).copy() for w in self.model.trainable_variables])


class BatchRates(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")


def bn_model(seed=2):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            keras.layers.ReLU(),
            keras.layers.Dense(1),
        ]
    )


def torch_swa(model, x, y, *, lr, epochs, batch_size, swa_start, swa_lr, anneal_epochs, strategy):
    """torch.optim.swa_utils on a copy of the Keras model: the final model, the AveragedModel after update_bn."""
    import torch
    from torch.optim.swa_utils import SWALR, AveragedModel
    from torch.optim.swa_utils import update_bn as torch_update_bn

    dense1, bn, _, dense2 = model.layers
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8, eps=1e-5, momentum=0.1), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    )
    with torch.no_grad():
        for layer, source in ((net[0], dense1), (net[3], dense2)):
            kernel, bias = (keras.ops.convert_to_numpy(w) for w in source.weights)
            layer.weight.copy_(torch.tensor(kernel.T))
            layer.bias.copy_(torch.tensor(bias))
        net[1].weight.copy_(torch.tensor(keras.ops.convert_to_numpy(bn.gamma)))
        net[1].bias.copy_(torch.tensor(keras.ops.convert_to_numpy(bn.beta)))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    averaged, scheduler = AveragedModel(net), None
    batches = [
        (torch.tensor(x[i : i + batch_size]), torch.tensor(y[i : i + batch_size])) for i in range(0, len(x), batch_size)
    ]
    for epoch in range(epochs):
        if epoch == swa_start:  # Lightning swaps in SWALR when the first averaged epoch starts
            scheduler = SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
        for xb, yb in batches:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(net(xb), yb).backward()
            optimizer.step()
        if epoch >= swa_start:
            averaged.update_parameters(net)
            scheduler.step()
    torch_update_bn([xb for xb, _ in batches], averaged)
    return net, averaged.module


def keras_weights_as_torch(model):
    dense1, bn, _, dense2 = model.layers
    out = {}
    for index, layer in ((0, dense1), (3, dense2)):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
        out[f"{index}.weight"], out[f"{index}.bias"] = kernel.T, bias
    out["1.weight"], out["1.bias"] = keras.ops.convert_to_numpy(bn.gamma), keras.ops.convert_to_numpy(bn.beta)
    return out


@pytest.mark.slow
def test_swa_matches_torch_averaged_model_swalr_and_update_bn():
    x, y = data()
    model = bn_model()
    settings = dict(lr=0.05, epochs=6, batch_size=8, swa_start=2, swa_lr=0.01, anneal_epochs=2, strategy="cos")
    net, averaged = torch_swa(model, x, y, **settings)

    model.compile(keras.optimizers.SGD(0.05), "mse")
    raw = EpochWeights()
    swa = StochasticWeightAveraging(
        swa_start=2, swa_lr=0.01, anneal_epochs=2, anneal_strategy="cos", bn_data=x, bn_batch_size=8
    )
    model.fit(x, y, batch_size=8, epochs=6, shuffle=False, verbose=0, callbacks=[raw, swa])

    # the raw trajectory (so SWALR's rates) is torch's: the last epoch's weights are torch's final model
    torch_final = {k: v.detach().numpy() for k, v in net.state_dict().items() if "running" not in k and "num" not in k}
    names = ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    keras_final = dict(zip(names, raw.weights[-1]))
    keras_final["0.weight"], keras_final["3.weight"] = keras_final["0.weight"].T, keras_final["3.weight"].T
    for name in names:
        np.testing.assert_allclose(keras_final[name], torch_final[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # the averaged weights are AveragedModel's
    state = {k: v.detach().numpy() for k, v in averaged.state_dict().items()}
    ours = keras_weights_as_torch(model)
    for name in names:
        np.testing.assert_allclose(ours[name], state[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert not np.allclose(ours["0.weight"], torch_final["0.weight"], atol=1e-4), "the average is not the last weights"
    # the statistics are update_bn's: the same batch means; torch averages unbiased variances (n / (n - 1))
    bn = model.layers[1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_mean), state["1.running_mean"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_variance) * 8 / 7, state["1.running_var"], rtol=1e-5, atol=1e-6
    )
    assert bn.momentum == 0.9, "update_bn puts the momentum back"


def test_swa_anneals_from_any_schedule_as_swalr_does():
    """The rate before swa_start is the optimizer's schedule; from there torch's SWALR, one value per epoch."""
    import torch

    steps_per_epoch, epochs, start = 5, 6, 2
    schedule = Join([Warmup(0.1, warmup_steps=3), keras.optimizers.schedules.CosineDecay(0.1, 40)], [3])
    model, x, y = rate_probe(steps_per_epoch, optimizer=keras.optimizers.SGD(schedule))
    rates = BatchRates()
    swa = StochasticWeightAveraging(swa_start=start, swa_lr=0.02, anneal_epochs=3, anneal_strategy="linear")
    model.fit(x, y, batch_size=1, epochs=epochs, shuffle=False, verbose=0, callbacks=[rates, swa])

    before = keras.ops.convert_to_numpy(schedule(np.arange(start * steps_per_epoch))).astype(float)
    lr0 = float(keras.ops.convert_to_numpy(schedule(start * steps_per_epoch)))
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=lr0)
    swalr = torch.optim.swa_utils.SWALR(optimizer, swa_lr=0.02, anneal_epochs=3, anneal_strategy="linear")
    after = []
    for _ in range(epochs - start):
        after += [optimizer.param_groups[0]["lr"]] * steps_per_epoch
        optimizer.step()
        swalr.step()
    np.testing.assert_allclose(rates.rates, np.concatenate([before, after]), rtol=1e-6)
    assert swa.averaged_epochs == epochs - start
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(float(schedule(30)))


def test_swa_lr_is_applied_in_a_compiled_step():
    """Each row of the probe is in one batch per epoch: its kernel entry drops by that epoch's rate."""
    model, x, y = rate_probe(12, optimizer=keras.optimizers.SGD(0.1), jit_compile=True, steps_per_execution=3)
    raw = EpochWeights()
    swa = StochasticWeightAveraging(swa_start=1, swa_lr=0.01, anneal_epochs=2)
    model.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0, callbacks=[raw, swa])
    kernels = np.array([np.zeros(12)] + [w[0][:, 0] for w in raw.weights])
    applied = -np.diff(kernels, axis=0)  # (epoch, row)
    expected = np.array([0.1, 0.1, 0.055, 0.01])  # lr0 in the first averaged epoch, cos halfway, then swa_lr
    np.testing.assert_allclose(applied, np.repeat(expected[:, None], 12, axis=1), rtol=1e-5)
    np.testing.assert_allclose(swa.average[0], np.mean([w[0] for w in raw.weights[1:]], axis=0), rtol=1e-6)


def test_swa_without_a_rate_only_averages_and_a_fraction_picks_the_epoch():
    x, y = data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    raw, rates = EpochWeights(), BatchRates()
    swa = StochasticWeightAveraging(swa_start=0.5)  # int(0.5 * (5 - 1)) = epoch 2
    model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[raw, rates, swa])
    assert swa.start_epoch() == 2 and swa.averaged_epochs == 3
    np.testing.assert_allclose(rates.rates, 0.05, rtol=1e-7)  # swa_lr=None: the rate is not touched
    for ours, snapshots in zip(model.get_weights(), zip(*raw.weights[2:])):
        np.testing.assert_allclose(ours, np.mean(snapshots, axis=0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("after_swap", [True, False], ids=["after SwapEMAWeights: EMA", "before it: raw"])
def test_swa_composes_with_keras_ema(after_swap):
    """SWA averages what the model holds at its epoch end: Keras's EMA weights when SwapEMAWeights swapped them in."""
    x, y = data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.5), "mse")
    swap, seen_by_swa, raw = keras.callbacks.SwapEMAWeights(swap_on_epoch=True), EpochWeights(), EpochWeights()
    swa = StochasticWeightAveraging(swa_start=1)
    callbacks = [raw, swap, seen_by_swa, swa] if after_swap else [raw, seen_by_swa, swa, swap]
    model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
    differs = not np.allclose(seen_by_swa.weights[-1][0], raw.weights[-1][0])
    assert differs == after_swap
    expected = np.mean([w[0] for w in seen_by_swa.weights[1:]], axis=0)
    np.testing.assert_allclose(swa.average[0], expected, rtol=1e-6)
    np.testing.assert_allclose(model.get_weights()[0], expected, rtol=1e-6)  # not Keras's finalized EMA


def test_swa_average_survives_a_resume(tmp_path):
    x, y = data()

    def run(directory, epochs_before_crash=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.05), "mse")
        swa = StochasticWeightAveraging(swa_start=1, swa_lr=0.01, anneal_epochs=1)
        callbacks = [swa, BackupAndRestore(str(directory), async_save=False)]
        if epochs_before_crash is not None:

            class Crash(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    if epoch == epochs_before_crash:
                        raise RuntimeError("killed")

            callbacks.append(Crash())
        model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=callbacks)
        return model, swa

    with pytest.raises(RuntimeError):
        run(tmp_path / "resumed", epochs_before_crash=2)
    resumed, swa = run(tmp_path / "resumed")
    assert swa.averaged_epochs == 4  # 2 epochs before the crash (restored), 2 after
    straight, _ = run(tmp_path / "straight")
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_model_with_batch_norm_and_no_bn_data_is_refused_before_training():
    x, y = data()
    model = bn_model()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="needs `bn_data` to recompute the statistics"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[StochasticWeightAveraging(swa_start=1)])
    assert int(model.optimizer.iterations.numpy()) == 0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(swa_start=-1), ValueError, "`swa_start` must be an integer >= 0"),
        (dict(swa_start=1.0), ValueError, r"`swa_start` must be in \(0.0, 1.0\)"),
        (dict(swa_start="last"), TypeError, "`swa_start` must be an epoch index"),
        (dict(swa_start=True), TypeError, "`swa_start` must be an epoch index"),
        (dict(swa_lr=0.0), ValueError, "`swa_lr` must be > 0"),
        (dict(anneal_epochs=-1), ValueError, "`anneal_epochs` must be an integer >= 0"),
        (dict(anneal_strategy="exp"), ValueError, "`anneal_strategy` must be one of 'cos', 'linear'"),
        (dict(bn_batch_size=0), ValueError, "`bn_batch_size` must be an integer >= 1"),
    ],
)
def test_swa_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        StochasticWeightAveraging(**kwargs)
