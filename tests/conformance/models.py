"""The conformance corpus: models built as their users build them, with tiny data.

One builder per model. Each returns a `Spec`: the compiled model, a tiny data
maker, how to recompile it with a fresh optimizer, and what a refusal must name
(the model's features). Application models are `keras.applications` at 32x32
with ``weights=None``; the others follow the Keras guides and examples they are
named after (adapted only in size):

* ``subclassed_train_step``: "Customizing what happens in fit()", its first
  ``CustomModel`` (own `train_step`, `compute_loss`, metrics loop);
* ``gan``: the same guide's GAN, whose `compile(d_optimizer=, g_optimizer=,
  loss_fn=)` calls ``super().compile()`` without an optimizer or a loss and
  whose `train_step` returns ``d_loss``/``g_loss`` (no ``loss``);
* ``structured_data``: "Structured data classification from scratch": dict
  inputs, `Normalization`, `StringLookup`, `IntegerLookup` + `CategoryEncoding`
  adapted inside the model, a sigmoid output;
* ``binary``: a binary classifier trained on labels of shape ``(n,)``;
* ``multi_output``: two named outputs, a loss dict and `loss_weights`;
* ``sequence``: `Embedding` + `Conv1D` + `LSTM` + `GRU`;
* ``custom_layer``: Dense layers living inside a custom `keras.layers.Layer`.

The TensorFlow-only pieces (string inputs, `tf.GradientTape` in `train_step`)
are those of the guides' TensorFlow versions; `BACKEND_NEUTRAL` lists the
models that build on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

IMAGE = (32, 32, 3)
CLASSES = 10
SEED = 0


@dataclass
class Spec:
    """A corpus model and everything the cell runner needs to drive it."""

    name: str
    model: keras.Model
    data: Callable[[int], tuple]  # n -> (x, y); y is None for models trained on x alone
    recompile: Callable[[keras.Model, Any], None]  # (model, optimizer or None) -> compiled afresh
    features: tuple[str, ...]  # words a refusal must use to name what this model has
    image: bool = False
    num_classes: int | None = None  # for Mixup/CutMix labels (one-hot); None: not a classifier of images
    monitor: str = "loss"  # what the model's train logs call its loss
    poison: Callable[[Any, Any, int], tuple] | None = None  # (x, y, row) -> copy whose `row` makes the loss NaN
    categorical: Callable[[keras.Model], None] | None = None  # recompile with a loss for one-hot (mixed) labels
    eager: bool = False
    extra: dict = field(default_factory=dict)


def _images(n, seed=SEED):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, size=(n, *IMAGE)).astype("float32"), rng.integers(0, CLASSES, size=n)


def _poison_x(x, y, row):
    x = np.array(x, copy=True)
    x[row] = np.nan
    return x, y


def _sgd():
    return keras.optimizers.SGD(0.01, momentum=0.9)


# ------------------------------------------------------------------ keras.applications


def _application(name, features):
    def build():
        keras.utils.set_random_seed(SEED)
        model = getattr(keras.applications, name)(input_shape=IMAGE, weights=None, classes=CLASSES)

        # A train step of these models costs less run eagerly than one trace of it on 2 CPU cores,
        # and the cells run a handful of steps each (see README, "Conformance corpus").
        def recompile(model, optimizer):
            model.compile(
                optimizer or _sgd(), "sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True
            )

        def categorical(model):
            model.compile(_sgd(), "categorical_crossentropy", run_eagerly=True)

        recompile(model, None)
        return Spec(
            name,
            model,
            _images,
            recompile,
            features,
            image=True,
            num_classes=CLASSES,
            poison=_poison_x,
            categorical=categorical,
            eager=True,
        )

    build.__name__ = name
    return build


mobilenet_v2 = _application("MobileNetV2", ("ReLU", "DepthwiseConv2D", "Add"))
mobilenet_v3_small = _application(
    "MobileNetV3Small", ("Rescaling", "hard_swish", "hard_sigmoid", "Multiply", "Add", "DepthwiseConv2D")
)
efficientnet_b0 = _application("EfficientNetB0", ("Rescaling", "Normalization", "swish", "Multiply", "Add"))
resnet50 = _application("ResNet50", ("Add", "ZeroPadding2D", "MaxPooling2D"))
densenet121 = _application("DenseNet121", ("Concatenate", "AveragePooling2D", "ZeroPadding2D"))
convnext_tiny = _application("ConvNeXtTiny", ("LayerNormalization", "LayerScale", "gelu", "Normalization"))


# ------------------------------------------------------------------ the guide's CustomModel


@keras.saving.register_keras_serializable(package="kerasplus_corpus")
class CustomModel(keras.Model):
    """'Customizing what happens in fit()' (TensorFlow version), as written there."""

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def subclassed_train_step():
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(shape=(32,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    outputs = keras.layers.Dense(1)(x)
    model = CustomModel(inputs, outputs)

    def data(n):
        rng = np.random.default_rng(SEED)
        return rng.normal(size=(n, 32)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")

    def recompile(model, optimizer):
        model.compile(optimizer=optimizer or _sgd(), loss="mse", metrics=["mae"])

    recompile(model, None)
    return Spec("subclassed_train_step", model, data, recompile, ("train_step", "CustomModel"), poison=_poison_x)


# ------------------------------------------------------------------ the guide's GAN

LATENT = 16


@keras.saving.register_keras_serializable(package="kerasplus_corpus")
class GAN(keras.Model):
    """The guide's GAN (TensorFlow version), sizes reduced: two optimizers, its own compile and train_step."""

    def __init__(self, discriminator, generator, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1337)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        import tensorflow as tf

        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = tf.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors)
        combined_images = tf.concat([generated_images, real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * keras.random.uniform(tf.shape(labels), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def gan():
    keras.utils.set_random_seed(SEED)
    layers = keras.layers
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.Input(shape=(LATENT,)),
            layers.Dense(2 * 2 * 16),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((2, 2, 16)),
            layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    model = GAN(discriminator=discriminator, generator=generator, latent_dim=LATENT)

    def data(n):
        return np.random.default_rng(SEED).uniform(size=(n, 8, 8, 1)).astype("float32"), None

    def recompile(model, optimizer):
        # The guide's Adam(0.0003) twice; a cell's optimizer (one with a learning-rate schedule, say) is
        # given to both players, as a user of the guide's compile(d_optimizer=, g_optimizer=) would.
        def fresh():
            if optimizer is None:
                return keras.optimizers.Adam(learning_rate=0.0003)
            return optimizer.__class__.from_config(optimizer.get_config())

        model.compile(
            d_optimizer=fresh(), g_optimizer=fresh(), loss_fn=keras.losses.BinaryCrossentropy(from_logits=True)
        )

    recompile(model, None)
    return Spec(
        "gan",
        model,
        data,
        recompile,
        ("d_optimizer", "g_optimizer", "optimizers", "train_step", "own loss", "GAN", "subclassed", "images alone"),
        image=True,
        monitor="g_loss",
        poison=_poison_x,
        # What its refusals ask for: the callbacks drive the discriminator's optimizer and read its loss.
        extra={"optimizer": "d_optimizer", "monitor": "d_loss"},
    )


# ------------------------------------------------------------------ structured data from scratch


def _structured_frame(n):
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    features = {
        "age": rng.integers(29, 77, size=(n, 1)).astype("float32"),
        "thalach": rng.integers(70, 200, size=(n, 1)).astype("float32"),
        "sex": rng.integers(0, 2, size=(n, 1)).astype("int64"),
        "cp": rng.integers(0, 5, size=(n, 1)).astype("int64"),
        # Keras's fit takes string features as tensors (numpy string arrays it refuses): as from a DataFrame in tf.data.
        "thal": tf.constant(rng.choice(["fixed", "normal", "reversible"], size=(n, 1))),
    }
    target = rng.integers(0, 2, size=(n, 1)).astype("float32")
    return features, target


def structured_data():
    keras.utils.set_random_seed(SEED)
    layers = keras.layers
    frame, _ = _structured_frame(64)
    inputs = {
        "age": keras.Input(shape=(1,), name="age"),
        "thalach": keras.Input(shape=(1,), name="thalach"),
        "sex": keras.Input(shape=(1,), name="sex", dtype="int64"),
        "cp": keras.Input(shape=(1,), name="cp", dtype="int64"),
        "thal": keras.Input(shape=(1,), name="thal", dtype="string"),
    }
    encoded = []
    for name in ("age", "thalach"):
        normalizer = layers.Normalization()
        normalizer.adapt(frame[name])
        encoded.append(normalizer(inputs[name]))
    for name in ("sex", "cp"):
        lookup = layers.IntegerLookup(output_mode="int")
        lookup.adapt(frame[name])
        encoding = layers.CategoryEncoding(num_tokens=lookup.vocabulary_size(), output_mode="one_hot")
        encoded.append(encoding(lookup(inputs[name])))
    thal = layers.StringLookup(output_mode="one_hot")
    thal.adapt(frame["thal"])
    encoded.append(thal(inputs["thal"]))
    x = layers.concatenate(encoded)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    output = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, output)

    def poison(x, y, row):
        x = dict(x)
        x["age"] = np.array(x["age"], copy=True)
        x["age"][row] = np.nan
        return x, y

    def recompile(model, optimizer):
        model.compile(optimizer or _sgd(), "binary_crossentropy", metrics=["accuracy"])

    recompile(model, None)
    return Spec(
        "structured_data",
        model,
        _structured_frame,
        recompile,
        ("dict", "input", "StringLookup", "IntegerLookup", "CategoryEncoding", "Normalization", "string"),
        poison=poison,
    )


# ------------------------------------------------------------------ small functional models


def binary():
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="binary",
    )

    def data(n):
        rng = np.random.default_rng(SEED)
        return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 2, size=n).astype("float32")  # (n,)

    def recompile(model, optimizer):
        model.compile(optimizer or _sgd(), "binary_crossentropy", metrics=["accuracy"])

    recompile(model, None)
    return Spec("binary", model, data, recompile, ("(n,)", "label", "target", "shape"), poison=_poison_x)


def multi_output():
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    label = keras.layers.Dense(3, activation="softmax", name="label")(hidden)
    value = keras.layers.Dense(1, name="value")(hidden)
    model = keras.Model(inputs, {"label": label, "value": value}, name="multi_output")

    def data(n):
        rng = np.random.default_rng(SEED)
        x = rng.normal(size=(n, 8)).astype("float32")
        return x, {"label": rng.integers(0, 3, size=n), "value": rng.normal(size=(n, 1)).astype("float32")}

    def recompile(model, optimizer):
        model.compile(
            optimizer or _sgd(),
            loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
            loss_weights={"label": 1.0, "value": 0.5},
        )

    recompile(model, None)
    return Spec(
        "multi_output", model, data, recompile, ("outputs", "dict", "loss dict", "loss_weights"), poison=_poison_x
    )


def sequence():
    keras.utils.set_random_seed(SEED)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((12,), dtype="int32"),
            layers.Embedding(50, 8),
            layers.Conv1D(8, 3, activation="relu"),
            layers.LSTM(8, return_sequences=True),
            layers.GRU(8),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="sequence",
    )

    def data(n):
        rng = np.random.default_rng(SEED)
        return rng.integers(0, 50, size=(n, 12)).astype("int32"), rng.integers(0, 2, size=(n, 1)).astype("float32")

    def poison(x, y, row):  # integer tokens cannot be NaN: the label is
        y = np.array(y, copy=True)
        y[row] = np.nan
        return x, y

    # Run eagerly as the applications are: tracing LSTM + GRU costs ~8 s per fit on 2 CPU cores, more
    # than the few steps a cell runs (every cell recompiles, so every cell would trace again).
    def recompile(model, optimizer):
        model.compile(optimizer or _sgd(), "binary_crossentropy", metrics=["accuracy"], run_eagerly=True)

    recompile(model, None)
    return Spec(
        "sequence",
        model,
        data,
        recompile,
        ("Embedding", "LSTM", "GRU", "Conv1D", "recurrent", "int"),
        poison=poison,
        eager=True,
    )


@keras.saving.register_keras_serializable(package="kerasplus_corpus")
class ResidualBlock(keras.layers.Layer):
    """A custom layer holding its own Dense layers (the layers a user wraps to reuse)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = keras.layers.Dense(units, activation="relu")
        self.outer = keras.layers.Dense(units)

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.outer.build((*input_shape[:-1], self.units))

    def call(self, x):
        return keras.activations.relu(x + self.outer(self.inner(x)))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def custom_layer():
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((8,))
    x = ResidualBlock(8, name="block")(inputs)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs, name="custom_layer")

    def data(n):
        rng = np.random.default_rng(SEED)
        return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 3, size=n)

    def recompile(model, optimizer):
        model.compile(optimizer or _sgd(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    recompile(model, None)
    return Spec(
        "custom_layer", model, data, recompile, ("ResidualBlock", "custom layer", "sublayer", "block"), poison=_poison_x
    )


BUILDERS: dict[str, Callable[[], Spec]] = {
    "MobileNetV2": mobilenet_v2,
    "MobileNetV3Small": mobilenet_v3_small,
    "EfficientNetB0": efficientnet_b0,
    "ResNet50": resnet50,
    "DenseNet121": densenet121,
    "ConvNeXtTiny": convnext_tiny,
    "subclassed_train_step": subclassed_train_step,
    "gan": gan,
    "structured_data": structured_data,
    "binary": binary,
    "multi_output": multi_output,
    "sequence": sequence,
    "custom_layer": custom_layer,
}

# Models whose code runs on every backend (no tf.GradientTape, no string tensors).
BACKEND_NEUTRAL = ("MobileNetV3Small", "binary", "multi_output", "sequence", "custom_layer")
