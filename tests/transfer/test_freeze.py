import keras
import numpy as np
import pytest

from kerasplus.transfer import freeze, unfreeze


def backbone():
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, name="conv0"),
            keras.layers.BatchNormalization(name="bn0"),
            keras.layers.ReLU(name="relu0"),
            keras.layers.Conv2D(4, 3, name="conv1"),
            keras.layers.BatchNormalization(name="bn1"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="dense"),
        ],
        name="base",
    )


def trainable_layers(model):
    return [layer.name for layer in model.layers if layer.trainable_weights]


def test_freeze_leaves_nothing_trainable_and_batch_norm_in_inference_mode():
    base = freeze(backbone())
    assert base.trainable_weights == []
    x = np.random.default_rng(0).normal(3.0, 2.0, (8, 6, 6, 1)).astype("float32")
    before = [v.numpy().copy() for v in base.get_layer("bn0").non_trainable_weights]
    # training=True: a frozen BN still uses (and keeps) its moving statistics.
    np.testing.assert_allclose(base(x, training=True), base(x, training=False), rtol=1e-6)
    after = [v.numpy() for v in base.get_layer("bn0").non_trainable_weights]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["conv0", "conv1", "dense"]),
        ({"last_n": 1}, ["dense"]),
        ({"last_n": 2}, ["conv1", "dense"]),
        ({"from_layer": "relu0"}, ["conv1", "dense"]),
        ({"from_layer": -1}, ["dense"]),
        ({"from_layer": 0}, ["conv0", "conv1", "dense"]),
    ],
)
def test_unfreeze_opens_the_top_and_keeps_every_batch_norm_frozen(kwargs, expected):
    base = freeze(backbone())
    assert unfreeze(base, **kwargs) == expected
    assert trainable_layers(base) == expected
    assert not base.get_layer("bn0").trainable and not base.get_layer("bn1").trainable


def test_unfreeze_keeps_batch_norm_frozen_inside_nested_models():
    inner = backbone()
    outer = keras.Sequential([keras.Input((6, 6, 1)), inner, keras.layers.Dense(2, name="head")])
    freeze(outer)
    assert unfreeze(outer) == ["base", "head"]
    assert not inner.get_layer("bn1").trainable and inner.get_layer("conv1").trainable


def test_unfrozen_layers_train_and_frozen_ones_do_not():
    base = freeze(backbone())
    unfreeze(base, last_n=1)
    model = keras.Sequential([base])
    model.compile("sgd", "mse")
    frozen = base.get_layer("conv1").kernel.numpy().copy()
    open_ = base.get_layer("dense").kernel.numpy().copy()
    model.fit(np.ones((4, 6, 6, 1)), np.ones((4, 3)), epochs=1, verbose=0)
    np.testing.assert_array_equal(base.get_layer("conv1").kernel.numpy(), frozen)
    assert not np.array_equal(base.get_layer("dense").kernel.numpy(), open_)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"last_n": 0}, ValueError, "`last_n` must be an integer >= 1"),
        ({"last_n": 4}, ValueError, r"`last_n` must be <= 3"),
        ({"from_layer": "nope"}, ValueError, "`from_layer`='nope' is not a layer of 'base'"),
        ({"from_layer": 20}, ValueError, r"`from_layer` must be an index in \[-7, 6\]"),
        ({"from_layer": 1.5}, TypeError, "`from_layer` must be a layer name or index"),
        ({"last_n": 1, "from_layer": 0}, ValueError, "not both"),
    ],
)
def test_unfreeze_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        unfreeze(backbone(), **kwargs)


def test_freeze_rejects_what_is_not_a_model():
    with pytest.raises(TypeError, match="`model` must be a keras Model or layer; received str"):
        freeze("resnet")
