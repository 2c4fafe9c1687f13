import keras
import numpy as np
import pytest

from kerasplus.initializers import reinitialize


def deep_relu_mlp(depth=50, width=256):
    layers = [keras.Input((width,))]
    layers += [keras.layers.Dense(width, activation="relu", kernel_initializer="glorot_normal") for _ in range(depth)]
    return keras.Sequential(layers)


def last_activation_std(model, x):
    return float(np.std(keras.ops.convert_to_numpy(model(x))))


def test_fifty_layer_relu_net_keeps_its_signal_only_with_the_right_initializer():
    # Width 256: at finite width the typical norm still drifts down with depth
    # (measured here: std 0.14-0.19 at width 64, 0.65-0.85 at width 256, seeds 0-5).
    x = np.random.default_rng(0).normal(size=(256, 256)).astype("float32")
    model = deep_relu_mlp()
    glorot_std = last_activation_std(model, x)
    report = reinitialize(model, seed=0)
    he_std = last_activation_std(model, x)
    assert glorot_std < 0.1  # the vanishing signal, measured
    assert 0.5 <= he_std <= 2.0
    assert {row["initializer"] for row in report} == {"HeNormal"} and len(report) == 50


def test_activation_is_found_in_following_layers_and_biases_are_zeroed():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, bias_initializer="ones")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("selu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.LeakyReLU(negative_slope=0.3)(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    report = reinitialize(model, seed=1)
    assert [(r["activation"], r["initializer"]) for r in report] == [
        ("selu", "LecunNormal"),
        ("leaky_relu", "VarianceScaling"),
        ("linear", "GlorotNormal"),
    ]
    assert not np.any(keras.ops.convert_to_numpy(model.layers[1].bias))


def test_zero_init_residual_zeroes_the_batchnorm_that_feeds_an_add():
    inputs = keras.Input((16,))
    branch = keras.layers.Dense(16, activation="relu")(inputs)
    branch = keras.layers.Dense(16)(branch)
    last_bn = keras.layers.BatchNormalization(name="last_bn")
    branch = last_bn(branch)
    other_bn = keras.layers.BatchNormalization(name="other_bn")
    outputs = keras.layers.Add()([other_bn(inputs), branch])
    outputs = keras.layers.ReLU()(keras.layers.Dense(16)(outputs))
    model = keras.Model(inputs, outputs)
    report = reinitialize(model, zero_init_residual=True, seed=0)
    assert {"layer": "last_bn", "gamma": 0.0} in report
    assert not np.any(keras.ops.convert_to_numpy(last_bn.gamma))
    # `other_bn` also feeds the Add directly, so it is zeroed too; a BN
    # elsewhere would not be. The residual output equals the other input:
    x = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    assert np.allclose(keras.ops.convert_to_numpy(last_bn(model.layers[2](model.layers[1](x)), training=False)), 0.0)


def test_same_seed_same_weights():
    a, b = deep_relu_mlp(depth=3), deep_relu_mlp(depth=3)
    reinitialize(a, seed=7)
    reinitialize(b, seed=7)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_rejects_unbuilt_models_and_bad_arguments():
    with pytest.raises(ValueError, match="reinitialize needs a built model"):
        reinitialize(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(TypeError, match="`model` must be a keras Model"):
        reinitialize("model")
    with pytest.raises(TypeError, match="`zero_init_residual` must be True or False"):
        reinitialize(deep_relu_mlp(depth=1), zero_init_residual="yes")


def residual_block():
    """ResNet's pattern: Conv -> BN -> Add (identity shortcut) -> ReLU, then a linear head."""
    inputs = keras.Input((8, 8, 16))
    x = keras.layers.Conv2D(16, 3, padding="same", name="branch_conv")(inputs)
    x = keras.layers.BatchNormalization(name="branch_bn")(x)
    x = keras.layers.Add(name="add")([x, inputs])
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Concatenate(name="concat")([x, inputs])
    x = keras.layers.Activation("tanh")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(x))


def test_a_convolution_feeding_bn_add_relu_gets_he():
    model = residual_block()
    report = {row["layer"]: row for row in reinitialize(model, seed=0)}
    assert report["branch_conv"]["activation"] == "relu" and report["branch_conv"]["initializer"] == "HeNormal"
    assert report["head"]["initializer"] == "GlorotNormal"
    kernel = keras.ops.convert_to_numpy(model.get_layer("branch_conv").kernel)
    fan_in = 3 * 3 * 16
    # He: var = 2 / fan_in (2304 draws: the estimate is within a few percent); Glorot would give 2 / (144 + 144)
    assert kernel.var() * fan_in == pytest.approx(2.0, rel=0.1)


class TwoDenseBlock(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.expand = keras.layers.Dense(256, activation="relu", name="expand")
        self.project = keras.layers.Dense(8, name="project")

    def call(self, x):
        return keras.activations.relu(self.project(self.expand(x)))


def test_kernel_layers_inside_custom_layers_are_reached_and_an_unseen_activation_is_asked_for():
    inputs = keras.Input((64,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(TwoDenseBlock(name="block")(inputs)))
    before = [np.array(w) for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"'project'.*custom layer 'block'.*activations=\{'project': 'relu'\}"):
        reinitialize(model, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # refused before any change
    report = reinitialize(model, seed=0, activations={"project": "relu"})
    assert [(r["layer"], r["initializer"]) for r in report] == [
        ("expand", "HeNormal"),
        ("project", "HeNormal"),
        ("out", "GlorotNormal"),
    ]
    expand = keras.ops.convert_to_numpy(model.get_layer("block").expand.kernel)
    assert expand.var() * 64 == pytest.approx(2.0, rel=0.1)
    with pytest.raises(ValueError, match="`activations`"):
        reinitialize(model, activations={"missing": "relu"})


def test_a_subclassed_model_whose_sub_models_are_built_is_reinitialized_as_the_guides_gan():
    class TwoNets(keras.Model):
        def __init__(self):
            super().__init__()
            self.left = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu")])
            self.right = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="tanh")])

    model = TwoNets()
    assert not model.built
    report = reinitialize(model, seed=0)
    assert len(report) == 2
    left, right = (np.asarray(net.layers[0].kernel) for net in (model.left, model.right))
    assert abs(left.var() / (2.0 / 64) - 1) < 0.2  # He before relu: variance 2 / fan_in
    assert abs(right.var() / (2.0 / 128) - 1) < 0.2  # Glorot before tanh: 2 / (fan_in + fan_out)
