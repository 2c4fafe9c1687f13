import keras
import numpy as np
import pytest

from kerasplus.initializers import lsuv


def pre_activation_variances(model, batch):
    from kerasplus.initializers.kernel_layers import kernel_layers
    from kerasplus.initializers.lsuv import layer_input_model, pre_activation

    return [
        float(np.var(keras.ops.convert_to_numpy(pre_activation(layer_input_model(model, layer), layer, batch))))
        for layer in kernel_layers(model)
    ]


def conv_net():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(32, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.parametrize("tol", [0.1, 0.02])
def test_every_layer_ends_within_tolerance_of_unit_variance(tol):
    batch = np.random.default_rng(0).random((128, 8, 8, 1)).astype("float32")
    model = conv_net()
    report = lsuv(model, batch, tol=tol, seed=0)
    assert [row["converged"] for row in report] == [True] * 4
    for variance in pre_activation_variances(model, batch):
        assert abs(variance - 1.0) < tol
    assert [row["layer"] for row in report] == [layer.name for layer in model.layers if layer.weights][:4]


def test_sequential_models_work_too():
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(50, activation="relu"), keras.layers.Dense(5)])
    batch = np.random.default_rng(1).normal(size=(64, 20)).astype("float32") * 7.0
    report = lsuv(model, batch)
    assert all(abs(row["variance"] - 1.0) < 0.1 for row in report)


def test_rejects_unbuilt_models_wrong_batches_and_bad_arguments():
    batch = np.zeros((16, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="lsuv needs a built model"):
        lsuv(keras.Sequential([keras.layers.Dense(3)]), batch)
    with pytest.raises(
        ValueError, match=r"`batch` must have shape \(n, 8, 8, 1\).*received batch of shape \(16, 4, 4, 1\)"
    ):
        lsuv(conv_net(), np.zeros((16, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="`batch` needs at least 2 examples"):
        lsuv(conv_net(), batch[:1])
    with pytest.raises(ValueError, match=r"`tol` must be in \(0.0, 1.0\)"):
        lsuv(conv_net(), batch, tol=0.0)
    with pytest.raises(ValueError, match="`max_iters` must be an integer >= 1"):
        lsuv(conv_net(), batch, max_iters=0)


def test_dict_and_multi_input_batches_give_unit_variance():
    rng = np.random.default_rng(0)
    a, b = keras.Input((3,), name="a"), keras.Input((5,), name="b")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(keras.layers.Concatenate()([a, b]))
    out = keras.layers.Dense(2, name="out")(hidden)
    batch = {"a": rng.normal(size=(256, 3)).astype("float32") * 3, "b": rng.normal(size=(256, 5)).astype("float32")}
    for model, given in (
        (keras.Model({"a": a, "b": b}, out), batch),
        (keras.Model([a, b], out), [batch["a"], batch["b"]]),
    ):
        report = lsuv(model, given, tol=0.05, seed=0)
        assert [row["layer"] for row in report] == ["hidden", "out"] and all(row["converged"] for row in report)
        # by hand: each layer's pre-activation x @ W + b on the batch, from the layer's own input
        inputs = np.concatenate([batch["a"], batch["b"]], axis=1)
        hidden_layer, out_layer = model.get_layer("hidden"), model.get_layer("out")
        pre_hidden = inputs @ keras.ops.convert_to_numpy(hidden_layer.kernel)
        pre_out = np.maximum(pre_hidden, 0) @ keras.ops.convert_to_numpy(out_layer.kernel)
        assert abs(pre_hidden.var() - 1) < 0.05 and abs(pre_out.var() - 1) < 0.05
    with pytest.raises(ValueError, match=r"`batch` must be a dict with the model's inputs \['a', 'b'\]"):
        lsuv(keras.Model({"a": a, "b": b}, out), batch["a"])
    with pytest.raises(ValueError, match=r"`batch`\['b'\] must have shape \(n, 5\)"):
        lsuv(keras.Model({"a": a, "b": b}, out), {"a": batch["a"], "b": batch["a"]})


class TwoNets(keras.Model):
    """A subclassed model holding built sub-models but never built itself (as the Keras guide's GAN)."""

    def __init__(self):
        super().__init__()
        self.left = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


def test_a_subclassed_model_is_named_as_such_before_it_is_asked_to_be_built():
    with pytest.raises(TypeError, match=r"subclassed TwoNets without model.inputs.*functional sub-models"):
        lsuv(TwoNets(), np.zeros((4, 4), "float32"))


def test_a_recurrent_layers_cell_is_refused_naming_the_layer_not_as_a_custom_layer():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"inside the layer 'lstm' \(LSTM\).*recurrent layer's cell"):
        lsuv(model, np.random.default_rng(0).normal(size=(8, 5, 3)).astype("float32"))


def test_a_nested_models_kernel_layer_is_refused_naming_the_nested_model():
    stem = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="stem_conv")], name="stem")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(stem(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    with pytest.raises(
        ValueError, match=r"'stem_conv' inside the nested model 'stem' \(Sequential\).*one functional graph"
    ):
        lsuv(model, np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32"))
    for old, new in zip(before, model.weights):  # refused before touching a weight
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(new))
