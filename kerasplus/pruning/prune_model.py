"""`prune_model`: magnitude or structured pruning of a Keras 3 model while it trains."""

from __future__ import annotations

from collections.abc import Iterable

import keras

from kerasplus.pruning._schedule import PruningSchedule
from kerasplus.pruning.prune_wrapper import PRUNABLE_LAYERS, PruneWrapper, check_pruning_arguments


def check_cloneable(model, what: str) -> None:
    """A built Keras 3 Sequential or functional model (what `keras.models.clone_model` rebuilds layer by layer)."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a Keras 3 Sequential or functional model; received {model!r} of type "
            f"{type(model).__name__}. (For a tf_keras model use tfmot.sparsity.keras.{what}.)"
        )
    if isinstance(model, keras.Sequential):
        if not model.built or not hasattr(model, "inputs"):
            raise ValueError(
                f"Sequential model {model.name!r} is not built: start it with keras.Input(shape) "
                "(or call model.build(input_shape)) first."
            )
    elif not (hasattr(model, "inputs") and hasattr(model, "outputs")):
        raise TypeError(
            f"`model` must be a Sequential or functional model; {model.name!r} is a subclassed model "
            f"({type(model).__name__}), whose layers cannot be rewrapped. Rebuild it with keras.Input and "
            "the functional API (or Sequential), or wrap its layers in kerasplus.pruning.PruneWrapper yourself."
        )


def clone(model, clone_function):
    """`keras.models.clone_model` that keeps the names of a functional model's input layers."""
    if isinstance(model, keras.Sequential):
        return keras.models.clone_model(model, clone_function=clone_function)
    names = {id(layer.output): layer.name for layer in model.layers if isinstance(layer, keras.layers.InputLayer)}
    inputs = keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=names.get(id(x), x.name)), model.input
    )
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=clone_function)


def prune_model(
    model: keras.Model,
    schedule: PruningSchedule | None = None,
    *,
    sparsity_m_by_n: tuple[int, int] | None = None,
    block_size: tuple[int, int] = (1, 1),
    layer_names: Iterable[str] | None = None,
) -> keras.Model:
    """Returns a copy of `model` whose kernels are pruned by magnitude while it trains.

    Every `Dense`, `Conv1D`, `Conv2D`, `DepthwiseConv2D` and `Embedding` (or
    those named in `layer_names`) becomes a `kerasplus.pruning.PruneWrapper`
    named ``prune_<name>``, with the layer's weights; the other layers are
    cloned with theirs. Compile and `fit` the returned model as usual, on any
    backend and under ``jit_compile=True``: the mask follows `schedule`
    inside the train step, counted in training steps from 1 (one per batch,
    as ``optimizer.iterations + 1`` on a fresh optimizer; tfmot's
    `UpdatePruningStep` callback is not needed). Then call
    `kerasplus.pruning.strip_pruning` for a plain model with the zeros in its
    kernels, ready for `kerasplus.quantization.quantize_model` (with
    ``QuantizationConfig(preserve_sparsity=True)`` to keep them) and TFLite
    export. The pruned model saves to `.keras` and loads with
    ``safe_mode=True``, step and masks included, so training resumes where it
    stopped.

    Args:
        model: a built Keras 3 `Sequential` or functional model (the layers
            of a nested model are not pruned).
        schedule: a `kerasplus.pruning.PolynomialDecay` or
            `ConstantSparsity`: when the mask is updated and to which sparsity.
            May be None with `sparsity_m_by_n` (pattern set at step 1).
        sparsity_m_by_n: None, or ``(m, n)``, e.g. ``(2, 4)``: m zeros in
            every n weights along the input channels of Dense, Conv1D and
            Conv2D kernels, whose input dimension must be a multiple of n
            (other layers are then left out unless named in `layer_names`).
        block_size: ``(rows, columns)`` of the blocks pruned together in 2-D
            kernels (Dense, Embedding, 1x1 convolutions; other layers are then
            left out unless named in `layer_names`), ranked by mean magnitude.
        layer_names: names of the layers to prune; default: every prunable
            layer (see above).

    Returns:
        The model to train (the input model is not modified).

    Raises:
        TypeError: `model` is a subclassed model or not a model; wrong
            argument types.
        ValueError: bad arguments, the model has no prunable layer, a named
            layer is missing or not prunable, or a kernel does not fit the
            N:M or block structure.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu"),
    ...     keras.layers.Dense(3)])
    >>> schedule = kerasplus.pruning.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=4, frequency=2)
    >>> pruned = kerasplus.pruning.prune_model(model, schedule)
    >>> pruned.compile("adam", "mse")
    >>> _ = pruned.fit(np.ones((8, 16)), np.ones((8, 3)), batch_size=2, epochs=1, verbose=0)
    >>> plain = kerasplus.pruning.strip_pruning(pruned)
    >>> [round(float(np.mean(layer.kernel.numpy() == 0)), 2) for layer in plain.layers]
    [0.5, 0.5]
    """
    schedule, sparsity_m_by_n, block_size = check_pruning_arguments(schedule, sparsity_m_by_n, block_size)
    check_cloneable(model, "prune_low_magnitude")
    by_name = {layer.name: layer for layer in model.layers}
    if layer_names is not None:
        if isinstance(layer_names, str) or not all(isinstance(name, str) for name in layer_names):
            raise TypeError(
                f"`layer_names` must be None or a list of layer names (strings); received layer_names={layer_names!r}."
            )
        layer_names = tuple(layer_names)
        missing = sorted(set(layer_names) - set(by_name))
        if missing:
            raise ValueError(f"`layer_names` names layers that are not in model {model.name!r}: {missing}.")
        wrong = [
            f"{name} ({type(by_name[name]).__name__})"
            for name in layer_names
            if type(by_name[name]) not in PRUNABLE_LAYERS
        ]
        if wrong:
            raise ValueError(
                f"`layer_names` names layers that cannot be pruned: {wrong}; prunable layers are Dense, Conv1D, "
                "Conv2D, DepthwiseConv2D and Embedding."
            )
        chosen = set(layer_names)
    else:
        chosen = {layer.name for layer in model.layers if _fits(layer, sparsity_m_by_n, block_size)}
    if not chosen:
        kinds = sorted({type(layer).__name__ for layer in model.layers})
        structure = ""
        if sparsity_m_by_n is not None or block_size != (1, 1):
            structure = " that fits the requested structure (sparsity_m_by_n / block_size)"
        raise ValueError(
            f"Model {model.name!r} has no prunable layer{structure}: prune_model prunes the kernels of Dense, "
            f"Conv1D, Conv2D, DepthwiseConv2D and Embedding layers (nested models are not entered); "
            f"its layers are {kinds}."
        )

    pairs = []

    def wrap(layer):
        new = type(layer).from_config(layer.get_config())
        if layer.name in chosen:
            new = PruneWrapper(
                new,
                schedule=schedule,
                sparsity_m_by_n=sparsity_m_by_n,
                block_size=block_size,
                name=f"prune_{layer.name}",
            )
        pairs.append((layer, new))
        return new

    pruned = clone(model, wrap)
    for layer, new in pairs:
        target = new.layer if isinstance(new, PruneWrapper) else new
        target.set_weights(layer.get_weights())
    return pruned


def _fits(layer, sparsity_m_by_n, block_size) -> bool:
    """Whether `layer` is pruned by default: prunable, and its kernel fits the requested structure."""
    from kerasplus.pruning.prune_wrapper import M_BY_N_LAYERS, kernel_of

    if type(layer) not in PRUNABLE_LAYERS:
        return False
    if sparsity_m_by_n is not None:
        return type(layer) in M_BY_N_LAYERS
    if block_size != (1, 1):
        return len([d for d in kernel_of(layer).shape if d != 1]) == 2
    return True
