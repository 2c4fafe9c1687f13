"""`quantize_model`: quantization-aware training for Keras 3 models, tfmot for tf_keras models."""

from __future__ import annotations

import keras
import numpy as np

from kerasplus.quantization.quantization_config import QuantizationConfig
from kerasplus.quantization.quantize_output import QuantizeOutput
from kerasplus.quantization.quantize_wrapper import (
    FUSED_ACTIVATIONS,
    INT8_ACTIVATIONS,
    WEIGHTED_LAYERS,
    QuantizeWrapper,
    activation_name,
)

L = keras.layers
# Layers TFLite runs in int8 with the scale of their input: nothing to learn.
PASSTHROUGH_LAYERS = (
    L.Flatten,
    L.Reshape,
    L.MaxPooling1D,
    L.MaxPooling2D,
    L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D,
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.Identity,
    L.ZeroPadding1D,
    L.ZeroPadding2D,
    L.Cropping1D,
    L.Cropping2D,
)
# Layers whose int8 op rescales its output: they get a moving-average output range.
OUTPUT_RANGE_LAYERS = (
    L.Add,
    L.Subtract,
    L.Multiply,
    L.Concatenate,
    L.GlobalAveragePooling1D,
    L.GlobalAveragePooling2D,
    L.BatchNormalization,
)
# Layers whose int8 op must keep its input's scale.
SAME_SCALE_LAYERS = (L.AveragePooling1D, L.AveragePooling2D)
# Preprocessing layers that are a per-channel affine map x * a + b.
AFFINE_LAYERS = (L.Rescaling, L.Normalization)
# Arithmetic between a tensor and a Python number in a functional graph (``x + 3.0``,
# ``x * (1 / 6)``, as MobileNetV3 builds its hard sigmoid): keras.ops classes by name.
SCALAR_OPERATIONS = ("Add", "Subtract", "Multiply", "TrueDivide", "Divide")
SUPPORTED_LAYERS = (
    "Dense, Conv1D, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, Activation (relu, relu6, silu/swish, "
    "hard_silu/hard_swish, gelu, sigmoid, tanh, softmax), Softmax, Rescaling, Normalization, Add, Subtract, "
    "Multiply, Concatenate, average/max/global pooling, ZeroPadding, Cropping, Flatten, Reshape, Dropout, "
    "and a tensor plus, minus, times or divided by a number"
)


def is_tf_keras_model(model) -> bool:
    """True for a `tf_keras` (Keras 2) model, without importing tf_keras."""
    return any(cls.__module__.split(".")[0] == "tf_keras" for cls in type(model).__mro__)


def quantize_model(model: keras.Model, config: QuantizationConfig | None = None) -> keras.Model:
    """Returns a copy of `model` that trains with int8 fake quantization.

    For a Keras 3 `Sequential` or functional model, every `Dense`, `Conv2D`
    and `DepthwiseConv2D` becomes a `QuantizeWrapper` (symmetric int8
    weights: per channel for convolutions, per tensor for Dense) and every
    activation that the int8 TFLite model stores gets an int8 range kept as a
    moving average of batch minima and maxima. As in TFLite:

    * a `BatchNormalization` that directly follows a convolution (or Dense)
      with a linear activation is folded into its kernel and bias, using the
      trained moving mean and variance; the quantized model has no batch
      normalization left, and fine-tuning trains the folded kernel and bias
      (folding happens once, here, so QAT does not use batch statistics;
      tfmot instead keeps BN and folds at every step);
    * a ReLU or ReLU6 (activation argument, `ReLU` layer or `Activation`
      layer) that directly follows such a layer is fused into it, so there is
      one int8 range after the activation;
    * a `BatchNormalization` with nothing to fold into (DenseNet's
      pre-activation BN after a `Concatenate`) runs, on images, as its
      inference-mode map ``x * a + b``: a 1x1 `DepthwiseConv2D` whose kernel
      and bias train in place of gamma and beta (TFLite's int8
      DEPTHWISE_CONV_2D, a following ReLU fused into it);
    * an `AveragePooling2D` keeps its input's int8 scale, as TFLite's int8
      op must: after a convolution it alone reads, it takes over that
      convolution's output range;
    * the model input gets an int8 range (the quantize op at the start of
      the TFLite file).

    Compile the returned model and train it with `fit` as usual (a short
    fine-tune at a low learning rate from the float weights is typical), then
    write the int8 file with `kerasplus.quantization.export_tflite`. The
    model saves to `.keras` and loads with ``safe_mode=True``. A `Sequential`
    model comes back as an equivalent functional model.

    A `tf_keras` model is handed to
    ``tfmot.quantization.keras.quantize_model`` (tfmot and tf_keras are
    imported only then), so one call serves both kinds of model; with
    ``config.keep_float`` the other layers are annotated with
    ``quantize_annotate_layer`` and passed to ``quantize_apply``.

    Args:
        model: a built Keras 3 `Sequential` or functional model, or a
            `tf_keras` model.
        config: a `QuantizationConfig` (layers to keep in float, EMA decay).

    Returns:
        The quantization-aware model (the input model is not modified).

    Raises:
        TypeError: `model` is a subclassed model or not a model.
        ValueError: the model is not built, or a layer has no int8 rule and is
            not listed in ``config.keep_float``.

    Example:

    >>> import keras, kerasplus
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...     keras.layers.BatchNormalization(), keras.layers.ReLU(),
    ...     keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> qat = kerasplus.quantization.quantize_model(model)
    >>> [type(layer).__name__ for layer in qat.layers]
    ['InputLayer', 'QuantizeWrapper', 'Flatten', 'QuantizeWrapper']
    >>> qat.layers[1].activation
    'relu'
    """
    if config is None:
        config = QuantizationConfig()
    if not isinstance(config, QuantizationConfig):
        raise TypeError(f"`config` must be a QuantizationConfig or None; received config={config!r}.")
    if is_tf_keras_model(model):
        return _quantize_tf_keras(model, config)
    functional = _as_functional(model)
    missing = set(config.keep_float) - {layer.name for layer in functional.layers}
    if missing:
        raise ValueError(f"`config.keep_float` names layers that are not in model {model.name!r}: {sorted(missing)}.")
    plan = _plan(functional, config)
    return _rebuild(functional, plan, config)


def _quantize_tf_keras(model, config):
    import tensorflow_model_optimization as tfmot

    if config.preserve_sparsity:
        if config.keep_float:
            raise ValueError(
                "For a tf_keras model, `config.preserve_sparsity` and `config.keep_float` cannot be combined "
                "(tfmot's sparsity-preserving scheme quantizes the whole model)."
            )
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        return tfmot.quantization.keras.quantize_apply(
            tfmot.quantization.keras.quantize_annotate_model(model), scheme=scheme
        )
    if not config.keep_float:
        return tfmot.quantization.keras.quantize_model(model)
    import tf_keras

    missing = set(config.keep_float) - {layer.name for layer in model.layers}
    if missing:
        raise ValueError(f"`config.keep_float` names layers that are not in model {model.name!r}: {sorted(missing)}.")
    # tfmot's documented route for quantizing some layers: annotate the others, then apply.
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def clone(layer):
        new = type(layer).from_config(layer.get_config())
        return new if layer.name in config.keep_float else annotate(new)

    annotated = tf_keras.models.clone_model(model, clone_function=clone)
    annotated.set_weights(model.get_weights())
    return tfmot.quantization.keras.quantize_apply(annotated)


def _as_functional(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a Keras 3 Sequential or functional model (or a tf_keras model); "
            f"received {model!r} of type {type(model).__name__}."
        )
    if isinstance(model, keras.Sequential):
        if not model.built or not hasattr(model, "inputs"):  # a built Sequential without inputs has no graph
            raise ValueError(
                f"Sequential model {model.name!r} is not built: start it with keras.Input(shape) "
                "(or call model.build(input_shape)) before quantize_model."
            )
        return keras.Model(model.inputs, model.outputs, name=model.name)
    # Functional models (keras.Model(inputs, outputs) and its subclasses) have symbolic inputs and
    # outputs; a subclassed model has neither.
    if not (hasattr(model, "inputs") and hasattr(model, "outputs")):
        raise TypeError(
            f"quantize_model needs a Sequential or functional model; {model.name!r} is a subclassed "
            f"model ({type(model).__name__}), whose call() cannot be rewritten layer by layer. "
            "Rebuild it with keras.Input and the functional API (or Sequential), then quantize."
        )
    return model


def _new_inputs(model):
    """Fresh `keras.Input`s like `model`'s, named after its InputLayers (clone_model names them after tensors)."""
    names = {id(layer.output): layer.name for layer in model.layers if isinstance(layer, L.InputLayer)}
    return keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=names.get(id(x), x.name)), model.input
    )


class _StandIn(keras.layers.Layer):
    """Takes the place of one layer call while `_graph` traces a model: no weights, the layer's output specs."""

    def __init__(self, outputs, **kwargs) -> None:
        super().__init__(autocast=False, **kwargs)
        self.outputs_spec = outputs

    def compute_output_spec(self, tensors):
        # Fresh tensors: a layer's spec may be one of its inputs, whose history must stay as it is.
        return keras.tree.map_structure(
            lambda x: keras.KerasTensor(x.shape, x.dtype, sparse=x.sparse) if isinstance(x, keras.KerasTensor) else x,
            self.outputs_spec,
        )

    def call(self, tensors):  # symbolic only: `_graph` never runs the traced model
        raise NotImplementedError


def _graph(model):
    """The calls of a functional model's layers in topological order, as `(layer, parent layers, args,
    kwargs)` tuples, and the layers that produce the model's outputs.

    Traced with `keras.models.clone_model`, which visits every layer call in
    topological order: each call is replaced by a weightless `_StandIn` with
    the layer's output specs, so the original layers get no new nodes and no
    weights are created. A parent is the layer (an `InputLayer` for a model
    input) that produced a tensor argument of the call, once per argument.
    """
    inputs = _new_inputs(model)
    input_layers = {id(layer.output): layer for layer in model.layers if isinstance(layer, L.InputLayer)}
    pairs = zip(keras.tree.flatten(model.input), keras.tree.flatten(inputs))
    producer = {id(new): input_layers.get(id(old)) for old, new in pairs}
    calls = []

    def trace(layer, *args, **kwargs):
        tensors = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
        parents = [producer[id(t)] for t in tensors if producer.get(id(t)) is not None]
        calls.append((layer, parents, args, kwargs))
        outputs = layer.compute_output_spec(*args, **kwargs)
        traced = _StandIn(outputs)(tensors)
        for tensor in keras.tree.flatten(traced):
            producer[id(tensor)] = layer
        return traced

    traced = keras.models.clone_model(
        model, input_tensors=inputs, clone_function=lambda layer: layer, call_function=trace
    )
    return calls, [producer[id(tensor)] for tensor in traced.outputs]


def _activation_kind(layer):
    """The activation an int8 TFLite op computes for `layer` (a plain ReLU/ReLU6, an `Activation`
    with an int8 kernel, a last-axis `Softmax`), else None."""
    if type(layer) is L.ReLU:
        if layer.negative_slope == 0 and layer.threshold == 0:
            if layer.max_value is None:
                return "relu"
            if float(layer.max_value) == 6.0:
                return "relu6"
        return None
    if type(layer) is L.Activation:
        name = activation_name(layer.activation)
        return name if name in ("relu", "relu6", *INT8_ACTIVATIONS) else None
    if type(layer) is L.Softmax and layer.axis in (-1, [-1], (-1,)):
        return "softmax"
    return None


def _affine(layer):
    """`(a, b)` per channel with ``layer(x) == x * a + b`` for a Rescaling, a last-axis Normalization
    or an inference-mode last-axis BatchNormalization on a rank-4 (image) tensor, else None."""
    shape = layer.input.shape
    if len(shape) != 4 or shape[-1] is None:
        return None
    channels = shape[-1]
    if type(layer) is L.BatchNormalization:
        if layer.axis not in (-1, 3):
            return None

        def value(variable, default):
            return default if variable is None else keras.ops.convert_to_numpy(variable).astype(np.float64)

        gamma = value(layer.gamma, np.ones(channels))
        beta = value(layer.beta, np.zeros(channels))
        a = gamma / np.sqrt(value(layer.moving_variance, None) + layer.epsilon)
        return a, beta - value(layer.moving_mean, None) * a
    if type(layer) is L.Rescaling:
        scale = np.asarray(keras.ops.convert_to_numpy(layer.scale), np.float64)
        offset = np.asarray(keras.ops.convert_to_numpy(layer.offset), np.float64)
        if scale.size not in (1, channels) or offset.size not in (1, channels):
            return None
        return np.broadcast_to(scale.reshape(-1), (channels,)), np.broadcast_to(offset.reshape(-1), (channels,))
    if layer.invert or tuple(layer.axis) not in ((-1,), (3,)):
        return None
    mean = keras.ops.convert_to_numpy(layer.mean).astype(np.float64).reshape(-1)
    variance = keras.ops.convert_to_numpy(layer.variance).astype(np.float64).reshape(-1)
    a = 1.0 / np.maximum(np.sqrt(variance), keras.config.epsilon())
    a, mean = np.broadcast_to(a, (channels,)), np.broadcast_to(mean, (channels,))
    return a, -mean * a


def _scalar_rescaling(operation, args, kwargs):
    """`(scale, offset)` when `operation` is a keras.ops call between one tensor and one number, else None."""
    name = type(operation).__name__
    if isinstance(operation, L.Layer) or name not in SCALAR_OPERATIONS or kwargs or len(args) != 2:
        return None
    first, second = args
    numbers = (int, float, np.integer, np.floating)
    if isinstance(first, keras.KerasTensor) and isinstance(second, numbers) and not isinstance(second, bool):
        c, tensor_first = float(second), True
    elif isinstance(second, keras.KerasTensor) and isinstance(first, numbers) and not isinstance(first, bool):
        c, tensor_first = float(first), False
    else:
        return None
    if name == "Add":
        return 1.0, c
    if name == "Subtract":
        return (1.0, -c) if tensor_first else (-1.0, c)
    if name == "Multiply":
        return c, 0.0
    if tensor_first and c != 0:  # x / c
        return 1.0 / c, 0.0
    return None


def _plan(model, config):
    """Decides, layer by layer, what the quantized model does with it.

    The rules mirror what the TFLite converter makes of the graph, so that the
    fake-quantized tensors are exactly the int8 tensors of the file: a
    BatchNormalization after a convolution is folded into it, a ReLU/ReLU6
    after it is fused (one output range), other activations after it run as
    their own int8 op (the convolution's output gets a range, then the
    activation's), Rescaling/Normalization run as a 1x1 depthwise convolution.
    """
    calls, output_producers = _graph(model)
    seen, consumers = set(), {}
    for layer, parents, _, _ in calls:
        if id(layer) in seen:
            raise ValueError(
                f"Layer {layer.name!r} is used more than once (shared weights); "
                "quantize_model supports each layer being called once."
            )
        seen.add(id(layer))
        for parent in parents:
            consumers[id(parent)] = consumers.get(id(parent), 0) + 1
    for producer in output_producers:
        consumers[id(producer)] = consumers.get(id(producer), 0) + 1

    plan, quantized, owner = {}, {}, {}
    for layer, parents, args, kwargs in calls:
        inputs_quantized = bool(parents) and all(quantized.get(id(p), False) for p in parents)
        parent = parents[0] if len(parents) == 1 else None
        # The layer that currently produces the single input (through folded/fused layers).
        producer = owner.get(id(parent), parent) if parent is not None else None
        producer_role = plan.get(id(producer), {}).get("role") if producer is not None else None
        single_consumer = parent is not None and consumers.get(id(parent), 0) == 1
        weighted_producer = producer_role == "weighted" and single_consumer
        activation = _activation_kind(layer)
        affine = _affine(layer) if type(layer) in (*AFFINE_LAYERS, L.BatchNormalization) else None
        scalar = _scalar_rescaling(layer, args, kwargs) if not isinstance(layer, L.Layer) else None
        if isinstance(layer, L.Layer) and layer.name in config.keep_float:
            plan[id(layer)] = {"role": "float"}
            quantized[id(layer)] = False
        elif isinstance(layer, keras.Model):
            raise ValueError(
                f"Layer {layer.name!r} is a nested model ({type(layer).__name__}); quantize_model "
                "works on one level: build the model from the nested model's layers, or keep it in "
                f"float with QuantizationConfig(keep_float=[{layer.name!r}])."
            )
        elif type(layer) in WEIGHTED_LAYERS:
            plan[id(layer)] = {
                "role": "weighted",
                "activation": activation_name(layer.activation),
                "bn": None,
                "quantize_inputs": not inputs_quantized,
            }
            quantized[id(layer)] = True
        elif (
            type(layer) is L.BatchNormalization
            and weighted_producer
            and producer is parent
            and plan[id(parent)]["activation"] == "linear"
            and plan[id(parent)]["bn"] is None
            and layer.axis in (-1, len(layer.output.shape) - 1)
        ):
            plan[id(parent)]["bn"] = layer
            plan[id(layer)] = {"role": "skip"}
            owner[id(layer)] = parent
            quantized[id(layer)] = True
        elif (
            activation is not None
            and producer_role in ("weighted", "affine")
            and single_consumer
            and plan[id(producer)]["activation"] == "linear"
        ):
            # Also after a standalone BatchNormalization (an int8 1x1 depthwise convolution, below):
            # DenseNet's pre-activation BN + ReLU is one DEPTHWISE_CONV_2D with a fused ReLU.
            plan[id(producer)]["activation"] = activation
            plan[id(layer)] = {"role": "skip"}
            owner[id(layer)] = producer
            quantized[id(layer)] = True
        elif (
            activation in ("relu", "relu6")
            and producer_role == "output"
            and single_consumer
            and producer is parent
            and type(producer) in (L.Add, L.Subtract, L.Multiply)
            and plan[id(producer)].get("activation", "linear") == "linear"
        ):
            # TFLite fuses a ReLU into the int8 ADD/SUB/MUL before it (ResNet's residual Add + ReLU).
            plan[id(producer)]["activation"] = activation
            plan[id(layer)] = {"role": "skip"}
            owner[id(layer)] = producer
            quantized[id(layer)] = True
        elif (
            affine is not None
            and type(layer) in AFFINE_LAYERS
            and producer_role == "affine"
            and not plan[id(producer)]["trainable"]
            and single_consumer
        ):
            # Rescaling then Normalization (EfficientNet's preprocessing): one affine map.
            step = plan[id(producer)]
            step["a"], step["b"] = step["a"] * affine[0], step["b"] * affine[0] + affine[1]
            plan[id(layer)] = {"role": "skip"}
            owner[id(layer)] = producer
            quantized[id(layer)] = True
        elif affine is not None:
            plan[id(layer)] = {
                "role": "affine",
                "a": affine[0],
                "b": affine[1],
                "activation": "linear",
                # A BatchNormalization's gamma and beta train (as the kernel of the 1x1 convolution);
                # preprocessing stays fixed.
                "trainable": type(layer) is L.BatchNormalization,
                "quantize_inputs": not inputs_quantized,
            }
            quantized[id(layer)] = True
        elif type(layer) in PASSTHROUGH_LAYERS or (
            type(layer) is L.Activation and activation_name(layer.activation) == "linear"
        ):
            plan[id(layer)] = {"role": "clone"}
            quantized[id(layer)] = inputs_quantized
        elif type(layer) in SAME_SCALE_LAYERS:
            # TFLite's int8 AVERAGE_POOL_2D keeps its input's scale (the converter rejects another range).
            # After a convolution it alone reads, the pool takes over the convolution's output range and
            # rounds its own output onto it, as the int8 op does; otherwise it passes its input's grid on
            # (its averages then fall between the steps TFLite rounds them to: up to half a step).
            if (
                producer_role in ("weighted", "affine")
                and single_consumer
                and plan[id(producer)]["activation"] in FUSED_ACTIVATIONS
            ):
                plan[id(producer)]["quantize_outputs"] = False
                plan[id(layer)] = {"role": "output", "same_scale": True}
            else:
                plan[id(layer)] = {"role": "clone"}
            quantized[id(layer)] = True
        elif type(layer) in OUTPUT_RANGE_LAYERS or type(layer) in AFFINE_LAYERS or activation is not None:
            plan[id(layer)] = {"role": "output"}
            quantized[id(layer)] = True
        elif scalar is not None:
            plan[id(layer)] = {"role": "scalar", "scale": scalar[0], "offset": scalar[1]}
            quantized[id(layer)] = True
        else:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no int8 quantization rule in "
                "kerasplus.quantization. Keep it in float with "
                f"quantize_model(model, QuantizationConfig(keep_float=[{layer.name!r}])), "
                f"or replace it with a supported layer ({SUPPORTED_LAYERS})."
            )
    return plan


def _folded_weights(layer, bn):
    """Kernel and bias of `layer` with the inference-mode `bn` that follows it folded in."""
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
    channels = kernel.shape[2] * kernel.shape[3] if isinstance(layer, L.DepthwiseConv2D) else kernel.shape[-1]
    bias = keras.ops.convert_to_numpy(layer.bias).astype(np.float64) if layer.use_bias else np.zeros(channels)
    if bn is None:
        return kernel, (bias if layer.use_bias else None)

    def value(variable, default):
        return default if variable is None else keras.ops.convert_to_numpy(variable).astype(np.float64)

    gamma = value(bn.gamma, np.ones(channels))
    beta = value(bn.beta, np.zeros(channels))
    mean = value(bn.moving_mean, None)
    variance = value(bn.moving_variance, None)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    if isinstance(layer, L.DepthwiseConv2D):
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    return kernel, (bias - mean) * scale + beta


def _rebuild(model, plan, config):
    clones = {}

    scalar_layers = set()

    def clone_function(layer):
        step = plan[id(layer)]
        if step["role"] == "skip":
            return layer  # never called: call_function passes its input through
        if step["role"] == "scalar":
            new = QuantizeOutput(
                L.Rescaling(step["scale"], step["offset"], name=layer.name),
                ema_decay=config.ema_decay,
                name=f"quant_{layer.name}",
            )
            scalar_layers.add(id(new))
            return new
        if step["role"] == "affine":
            # x * a + b per channel: a 1x1 depthwise convolution, which TFLite runs in int8 with
            # per-channel int8 weights (each channel's single weight is exact) and an int32 bias.
            inner = L.DepthwiseConv2D(1, use_bias=True, name=layer.name, trainable=step["trainable"])
            new = QuantizeWrapper(
                inner,
                activation=step["activation"],
                quantize_inputs=step["quantize_inputs"],
                quantize_outputs=step.get("quantize_outputs", True),
                ema_decay=config.ema_decay,
                name=f"quant_{layer.name}",
            )
            clones[id(layer)] = (layer, new)
            return new
        layer_config = layer.get_config()
        if step["role"] == "weighted":
            layer_config["activation"] = "linear"
            if step["bn"] is not None:
                layer_config["use_bias"] = True
            inner = type(layer).from_config(layer_config)
            new = QuantizeWrapper(
                inner,
                activation=step["activation"],
                quantize_inputs=step["quantize_inputs"],
                ema_decay=config.ema_decay,
                preserve_sparsity=config.preserve_sparsity,
                quantize_outputs=step.get("quantize_outputs", True),
                name=f"quant_{layer.name}",
            )
        elif step["role"] == "output":
            new = QuantizeOutput(
                type(layer).from_config(layer_config),
                ema_decay=config.ema_decay,
                activation=step.get("activation", "linear"),
                same_scale=step.get("same_scale", False),
                name=f"quant_{layer.name}",
            )
        else:
            new = type(layer).from_config(layer_config)
        clones[id(layer)] = (layer, new)
        return new

    def call_function(layer, *args, **kwargs):
        if plan.get(id(layer), {}).get("role") == "skip":
            return args[0]
        if id(layer) in scalar_layers:  # the tensor operand of `x + 3.0`
            return layer(next(a for a in args if isinstance(a, keras.KerasTensor)))
        if isinstance(layer, QuantizeWrapper):
            # A functional BatchNormalization call records ``mask=None``: the 1x1 convolution that
            # replaces it computes the inference-mode map, which no mask changes.
            kwargs = {k: value for k, value in kwargs.items() if k != "mask"}
        return layer(*args, **kwargs)

    quantized = keras.models.clone_model(
        model, input_tensors=_new_inputs(model), clone_function=clone_function, call_function=call_function
    )
    for layer, new in clones.values():
        step = plan[id(layer)]
        if step["role"] == "affine":
            channels = step["a"].shape[0]
            new.layer.kernel.assign(step["a"].reshape(1, 1, channels, 1).astype("float32"))
            new.layer.bias.assign(np.asarray(step["b"], np.float32))
        elif step["role"] == "weighted":
            kernel, bias = _folded_weights(layer, step["bn"])
            new.layer.kernel.assign(kernel.astype("float32"))
            if config.preserve_sparsity:
                new.sparsity_mask.assign((kernel != 0).astype("float32"))
            if bias is not None:
                new.layer.bias.assign(bias.astype("float32"))
        elif step["role"] == "output":
            new.layer.set_weights(layer.get_weights())
        else:
            new.set_weights(layer.get_weights())
    return quantized
