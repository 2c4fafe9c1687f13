import keras

from kerasplus.initializers.kernel_layers import (
    consumers,
    following_activation,
    kernel_layers,
    kernel_of,
)


def test_the_activation_after_a_normalization_layer_follows_the_kernel_in_a_functional_model():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    relu = keras.layers.ReLU()
    head = keras.layers.Dense(2)
    outputs = head(relu(keras.layers.BatchNormalization()(dense(inputs))))
    model = keras.Model(inputs, outputs)
    assert following_activation(model, dense) is relu
    assert following_activation(model, head) is None  # the model output stays linear
    assert kernel_layers(model) == [dense, head] and kernel_of(dense) is dense.kernel


def test_consumers_of_a_branching_layer_in_a_functional_model_and_in_a_sequential():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    left, right = keras.layers.Dense(1), keras.layers.Dense(1)
    hidden = dense(inputs)
    model = keras.Model(inputs, keras.layers.Add()([left(hidden), right(hidden)]))
    assert consumers(model, dense) == [left, right]
    assert following_activation(model, dense) is None  # two consumers: no single activation
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Activation("tanh")])
    assert consumers(sequential, sequential.layers[0]) == [sequential.layers[1]]
