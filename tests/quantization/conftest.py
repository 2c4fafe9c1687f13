"""A tiny trained QAT model and its int8 TFLite file, shared by the quantization tests."""

import pytest


def build_float_model():
    import keras

    layers = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu6")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(3)(x)
    return keras.Model(inputs, outputs, name="tiny")


def data(n=64, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64") + (x[:, 4:].mean(axis=(1, 2, 3)) > 0)
    return x, y


def compile_for(model, jit_compile=False):
    import keras

    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


@pytest.fixture(scope="session")
def trained():
    """(float model, QAT model after a short fine-tune, x, y, path of its int8 file)."""
    import os
    import tempfile

    import keras

    from kerasplus.quantization import export_tflite, quantize_model

    keras.utils.set_random_seed(0)
    x, y = data()
    model = compile_for(build_float_model())
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    qat = compile_for(quantize_model(model))
    qat.fit(x, y, epochs=1, batch_size=16, verbose=0)
    folder = tempfile.mkdtemp()
    path = export_tflite(qat, os.path.join(folder, "tiny.tflite"))
    return model, qat, x, y, path
