"""The ops the augmentation layers compute with: Keras's, or TensorFlow's inside `tf.data`.

On JAX and PyTorch a `tf.data.Dataset.map` hands a layer symbolic TF tensors,
which `keras.ops` (dispatching to the active backend) cannot take. Keras's own
preprocessing layers switch to the TensorFlow backend there; `DataPipelineLayer`
does the same for ours: inside a `tf.data` graph its `call` runs with `ops` and
`random` below resolving to the TensorFlow backend, and its random draws go
through a TensorFlow twin of each `SeedGenerator` (same seed). Everywhere else
(eager, inside a model, under `jit_compile=True`) they are `keras.ops` and
`keras.random`, unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref

import keras

from kerasplus._internals import keras as internal_keras

# The TensorFlow backend namespace while a layer runs inside a tf.data graph, else None.
_TF_BACKEND: contextvars.ContextVar = contextvars.ContextVar("kerasplus_layers_tf_backend", default=None)

# keras.ops name -> the backend submodule that holds it (all others: numpy).
_SUBMODULE = {
    "cast": "core",
    "convert_to_tensor": "core",
    "shape": "core",
    "one_hot": "nn",
    "sigmoid": "nn",
}

# SeedGenerator of the active backend -> its TensorFlow twin (same seed), for tf.data.
_TF_GENERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Ops:
    """`keras.ops`, or inside a tf.data graph the TensorFlow backend's function of that name."""

    def __getattr__(self, name):
        tf_backend = _TF_BACKEND.get()
        if tf_backend is None:
            return getattr(keras.ops, name)
        return getattr(getattr(tf_backend, _SUBMODULE.get(name, "numpy")), name)


class _Random:
    """`keras.random`, or inside a tf.data graph TensorFlow's draws from each generator's TF twin."""

    def __getattr__(self, name):
        tf_backend = _TF_BACKEND.get()
        if tf_backend is None:
            return getattr(keras.random, name)
        draw = getattr(tf_backend.random, name)

        def tensorflow_draw(*args, seed=None, **kwargs):
            return draw(*args, seed=_tensorflow_twin(seed), **kwargs)

        return tensorflow_draw


def _tensorflow_twin(generator):
    if not isinstance(generator, keras.random.SeedGenerator):
        return generator
    twin = _TF_GENERATORS.get(generator)
    if twin is None:
        # state is [seed, counter]: its first entry is the seed the generator was made with
        seed = int(keras.ops.convert_to_numpy(generator.state)[0])
        twin = _TF_GENERATORS[generator] = internal_keras.tensorflow_seed_generator(seed)
    return twin


ops = _Ops()
random = _Random()


def eager_torch() -> bool:
    """True when `ops` are PyTorch's (the torch backend, outside a tf.data graph): torch-only fast paths apply."""
    return _TF_BACKEND.get() is None and keras.backend.backend() == "torch"


@contextlib.contextmanager
def _tensorflow_ops():
    token = _TF_BACKEND.set(internal_keras.tensorflow_backend())
    try:
        yield
    finally:
        _TF_BACKEND.reset(token)


class DataPipelineLayer(keras.layers.Layer):
    """Base of the augmentation layers: runs on TensorFlow ops when called inside `tf.data`."""

    def __call__(self, inputs, *args, **kwargs):
        if not internal_keras.in_tf_data_graph(inputs):
            return super().__call__(inputs, *args, **kwargs)
        with _tensorflow_ops(), internal_keras.inputs_left_unconverted(self):
            return super().__call__(inputs, *args, **kwargs)
