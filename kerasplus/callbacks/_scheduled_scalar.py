"""`ScheduledScalar`: an optimizer hyperparameter that follows a schedule in-graph."""

import weakref

from keras import ops


class ScheduledScalar(float):
    """A float hyperparameter whose in-graph value follows a schedule.

    Keras optimizers read `momentum`/`beta_1` as Python floats while tracing the
    update step (``ops.cast(self.beta_1, dtype)``, ``1 - self.beta_1``). This
    float keeps its base value for comparisons and `get_config` (so the
    optimizer still serializes), but converts to ``fn()`` — a tensor computed
    from `optimizer.iterations` — in every arithmetic use, TF conversion and
    JAX conversion (``__jax_array__``; inside the JAX trainer's stateless
    scope `iterations` reads as the traced step). PyTorch reads the
    hyperparameter as a Python scalar (``torch._foreach_mul_(m, self.beta_1)``),
    so there the callback sets a plain float before each (eager) step instead.
    """

    def __new__(cls, base_value, fn):
        self = super().__new__(cls, base_value)
        self._compute = fn
        self._graph = None
        self._value = None
        return self

    def _fn(self):
        """``fn()``, computed once per traced graph rather than once per variable.

        The optimizer reads the value in `update_step` for every variable, all
        before it increments `iterations`, so within one graph (TF2 control flow
        gives each branch and loop body a graph of its own) the value is the same.
        """
        import keras

        if keras.backend.backend() != "tensorflow":
            return self._compute()  # JAX traces read it inside the traced step
        import tensorflow as tf

        if tf.executing_eagerly():
            return self._compute()
        graph = tf.compat.v1.get_default_graph()
        cached = self._graph() if self._graph is not None else None
        if cached is not graph:
            self._value = self._compute()
            self._graph = weakref.ref(graph)
        return self._value

    def __tf_tensor__(self, dtype=None, name=None):
        value = self._fn()
        return value if dtype is None else ops.cast(value, dtype)

    def __jax_array__(self):
        """JAX's conversion (``ops.cast(self.beta_1, dtype)`` inside the traced step)."""
        return self._fn()

    def __reduce__(self):
        return (float, (float(self),))

    def __add__(self, other):
        return ops.add(self._fn(), other)

    def __radd__(self, other):
        return ops.add(other, self._fn())

    def __sub__(self, other):
        return ops.subtract(self._fn(), other)

    def __rsub__(self, other):
        return ops.subtract(other, self._fn())

    def __mul__(self, other):
        return ops.multiply(self._fn(), other)

    def __rmul__(self, other):
        return ops.multiply(other, self._fn())

    def __truediv__(self, other):
        return ops.divide(self._fn(), other)

    def __rtruediv__(self, other):
        return ops.divide(other, self._fn())

    def __pow__(self, other):
        return ops.power(self._fn(), other)

    def __rpow__(self, other):
        return ops.power(other, self._fn())

    def __neg__(self):
        return ops.negative(self._fn())
