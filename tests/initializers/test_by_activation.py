import keras
import numpy as np
import pytest

from kerasplus.initializers import for_activation


@pytest.mark.parametrize(
    "activation, expected",
    [
        ("relu", keras.initializers.HeNormal),
        ("gelu", keras.initializers.HeNormal),
        ("swish", keras.initializers.HeNormal),
        ("elu", keras.initializers.HeNormal),
        (keras.activations.relu, keras.initializers.HeNormal),
        (keras.layers.ReLU(), keras.initializers.HeNormal),
        ("tanh", keras.initializers.GlorotNormal),
        ("sigmoid", keras.initializers.GlorotNormal),
        ("softmax", keras.initializers.GlorotNormal),
        (None, keras.initializers.GlorotNormal),
        ("linear", keras.initializers.GlorotNormal),
        (keras.layers.Activation("tanh"), keras.initializers.GlorotNormal),
        ("selu", keras.initializers.LecunNormal),
    ],
)
def test_table(activation, expected):
    assert type(for_activation(activation)) is expected


def test_uniform_variants():
    assert type(for_activation("relu", distribution="uniform")) is keras.initializers.HeUniform
    assert type(for_activation("tanh", distribution="uniform")) is keras.initializers.GlorotUniform
    assert type(for_activation("selu", distribution="uniform")) is keras.initializers.LecunUniform


def test_leaky_relu_gain_uses_the_slope():
    assert for_activation("leaky_relu", negative_slope=0.1).scale == pytest.approx(2 / 1.01)
    assert for_activation("leaky_relu").scale == pytest.approx(2 / 1.04)  # Keras's default slope 0.2
    assert for_activation(keras.layers.LeakyReLU(negative_slope=0.5)).scale == pytest.approx(2 / 1.25)


@pytest.mark.parametrize(
    "activation, fan_in, fan_out, variance",
    [
        ("relu", 512, 256, 2 / 512),
        ("tanh", 512, 256, 2 / (512 + 256)),
        ("selu", 512, 256, 1 / 512),
        ("leaky_relu", 512, 256, 2 / (1.04 * 512)),
    ],
)
@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_empirical_variance_matches_theory_for_dense_and_conv(activation, fan_in, fan_out, variance, distribution):
    initializer = for_activation(activation, distribution=distribution)
    dense = keras.ops.convert_to_numpy(initializer((fan_in, fan_out)))
    # A 3x3 conv with fan_in = 3*3*in_channels.
    conv = keras.ops.convert_to_numpy(initializer((3, 3, fan_in // 8, fan_out)))
    conv_fan_in = 9 * (fan_in // 8)
    conv_variance = variance * fan_in / conv_fan_in if activation != "tanh" else 2 / (conv_fan_in + 9 * fan_out)
    assert dense.var() == pytest.approx(variance, rel=0.03)
    assert conv.var() == pytest.approx(conv_variance, rel=0.03)
    assert abs(dense.mean()) < 0.01 * np.sqrt(variance)


def test_unknown_activation_lists_the_supported_ones():
    with pytest.raises(ValueError, match=r"`activation` 'wiggle' is not supported; supported: .*relu.*tanh"):
        for_activation("wiggle")
    with pytest.raises(ValueError, match="`distribution` must be one of 'normal', 'uniform'"):
        for_activation("relu", distribution="gamma")
    with pytest.raises(TypeError, match="`activation` must be a name"):
        for_activation(3)


def test_chosen_initializer_round_trips_in_a_keras_file(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                3, activation="relu", kernel_initializer=for_activation("leaky_relu", negative_slope=0.1)
            ),
        ]
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.layers[0].kernel_initializer.get_config()["scale"] == pytest.approx(2 / 1.01)
