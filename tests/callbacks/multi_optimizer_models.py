"""Models that hold several optimizers, for the tests of the callbacks that drive or save them.

`GAN` follows the end-to-end GAN of the Keras guide "Customizing what happens in
fit()" (guides/custom_train_step_in_tensorflow.py, and its PyTorch twin
guides/custom_train_step_in_torch.py): its own ``compile(d_optimizer,
g_optimizer, loss_fn)`` calling ``super().compile()`` (which leaves a default
``model.optimizer`` that nothing uses), its own ``train_step``, two loss
trackers and a model `SeedGenerator`. Only the sizes are shrunk (8x8 images, a
latent space of 4) so a fit takes a second. The JAX guide has no GAN: Keras's JAX
trainer threads only ``model.optimizer``'s variables through the compiled step,
so `gan` raises there and the JAX tests use `TwoOptimizerRegressor`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

BACKEND = keras.backend.backend()
IMAGE = (8, 8, 1)
LATENT_DIM = 4


def discriminator():
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE),
            layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )


def generator():
    return keras.Sequential(
        [
            keras.Input(shape=(LATENT_DIM,)),
            layers.Dense(2 * 2 * 8),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((2, 2, 8)),
            layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
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
        if BACKEND == "torch":
            return self._torch_train_step(real_images)
        return self._tensorflow_train_step(real_images)

    def _tensorflow_train_step(self, real_images):
        import tensorflow as tf

        if isinstance(real_images, tuple):
            real_images = real_images[0]
        # Sample random points in the latent space and decode them to fake images
        batch_size = tf.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors)
        combined_images = tf.concat([generated_images, real_images], axis=0)
        # Labels discriminating real from fake images, with noise (the guide's trick)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * keras.random.uniform(tf.shape(labels), seed=self.seed_generator)
        # Train the discriminator
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        # Train the generator on labels that say "all real images" (the discriminator is not updated)
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    def _torch_train_step(self, real_images):
        import torch

        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = real_images.shape[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors)
        real_images = torch.as_tensor(real_images, device=generated_images.device)
        combined_images = torch.concat([generated_images, real_images], axis=0)
        device = generated_images.device
        labels = torch.concat(
            [torch.ones((batch_size, 1), device=device), torch.zeros((batch_size, 1), device=device)], axis=0
        )
        labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator)
        self.zero_grad()
        predictions = self.discriminator(combined_images)
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = torch.zeros((batch_size, 1), device=device)
        self.zero_grad()
        predictions = self.discriminator(self.generator(random_latent_vectors))
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def gan(d_learning_rate=3e-4, g_learning_rate=3e-4):
    """The guide's GAN, compiled as in the guide (two Adams, BinaryCrossentropy(from_logits=True))."""
    if BACKEND == "jax":
        raise NotImplementedError("the Keras guide's GAN has no JAX version (see the module docstring)")
    model = GAN(discriminator=discriminator(), generator=generator(), latent_dim=LATENT_DIM)
    model.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=d_learning_rate),
        g_optimizer=keras.optimizers.Adam(learning_rate=g_learning_rate),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    if BACKEND == "torch":
        # Keras 3.15's PyTorch fit builds an unbuilt model by calling it, and the GAN has no call();
        # its layers are built, which is what "built" promises.
        model.built = True
    return model


def digits(n=32, seed=0):
    """Images in [0, 1] standing in for the guide's MNIST digits."""
    return np.random.default_rng(seed).random((n, *IMAGE)).astype("float32")


class TwoOptimizerRegressor(keras.Model):
    """A compiled regressor that also holds a second optimizer (``aux_optimizer``) for its ``aux`` head.

    The default train step trains the compiled one; ``step_aux`` steps the
    other eagerly (as a callback or a loop between fits would), on every backend.
    """

    def __init__(self):
        super().__init__()
        self.body = layers.Dense(3, activation="relu", name="body")
        self.head = layers.Dense(1, name="head")
        self.aux = layers.Dense(1, name="aux")
        self.aux_optimizer = keras.optimizers.Adam(0.01)

    def build(self, input_shape):
        self.body.build(input_shape)
        self.head.build((None, 3))
        self.aux.build((None, 3))

    def call(self, x):
        return self.head(self.body(x))

    def step_aux(self, x, steps=3):
        for k in range(steps):
            gradients = [keras.ops.ones_like(v.value) * (k + 1) for v in self.aux.trainable_variables]
            self.aux_optimizer.apply(gradients, self.aux.trainable_variables)


@keras.saving.register_keras_serializable(package="kerasplus_tests")
class TwoRateProbe(keras.Model):
    """Two one-weight-per-step probes, each trained by its own SGD in a custom ``train_step``.

    Batch k is the one-hot row e_k and the loss of each probe is the sum of
    its output, so after ``fit(batch_size=1, shuffle=False)`` ``-left.kernel[k]``
    is exactly the rate ``left_optimizer`` applied at its step k (and likewise
    for ``right``). Also holds the default ``model.optimizer`` of
    ``super().compile()``, as the Keras guide's GAN does. TensorFlow and PyTorch.
    """

    def __init__(self, steps, **kwargs):
        super().__init__(**kwargs)
        self.steps = steps
        self.left = layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="left")
        self.right = layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="right")
        self.left.build((None, steps))
        self.right.build((None, steps))
        self.built = True

    def compile(self, left_optimizer, right_optimizer):
        super().compile()
        self.left_optimizer = left_optimizer
        self.right_optimizer = right_optimizer

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        for probe, optimizer in ((self.left, self.left_optimizer), (self.right, self.right_optimizer)):
            if BACKEND == "torch":
                self.zero_grad()
                keras.ops.sum(probe(x)).backward()
                grads = [v.value.grad for v in probe.trainable_weights]
                import torch

                with torch.no_grad():
                    optimizer.apply(grads, probe.trainable_weights)
            else:
                import tensorflow as tf

                with tf.GradientTape() as tape:
                    loss = keras.ops.sum(probe(x))
                grads = tape.gradient(loss, probe.trainable_weights)
                optimizer.apply(grads, probe.trainable_weights)
        return {"left_sum": keras.ops.sum(self.left.kernel)}

    def applied(self, probe):
        return -np.asarray(keras.ops.convert_to_numpy(probe.kernel))[:, 0].astype("float64")
