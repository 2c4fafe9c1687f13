"""Which optimizer a callback drives: the one it is told, or the model's only one.

A model can hold several optimizers: a GAN compiled as in the Keras guide
"Customizing what happens in fit()" holds ``d_optimizer`` and ``g_optimizer``
besides the default ``model.optimizer`` that its ``super().compile()``
created and its ``train_step`` never uses. A callback that drives "the"
optimizer would then drive the unused one, silently. So callbacks take
``optimizer=``: an optimizer, or the name of the model attribute holding it;
left None, the model must hold exactly one optimizer.
"""

from __future__ import annotations

import keras


def check_optimizer_argument(optimizer):
    """At construction: None, an attribute name, or a `keras.optimizers.Optimizer`."""
    if optimizer is None or isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.isidentifier():
        return optimizer
    raise TypeError(
        "`optimizer` must be None, a keras.optimizers.Optimizer or the name of the model attribute "
        f"holding one (e.g. 'd_optimizer'); received optimizer={optimizer!r}."
    )


def tracked_optimizers(model) -> dict:
    """``{name: optimizer}`` of every optimizer the model holds in a public attribute (lists and dicts opened).

    ``optimizer`` (the compiled one) comes first; an optimizer held under two
    names is listed once, under the first.
    """
    found, seen = {}, set()

    def add(name, value):
        if isinstance(value, keras.optimizers.Optimizer) and id(value) not in seen:
            seen.add(id(value))
            found[name] = value

    compiled = getattr(model, "optimizer", None)
    if compiled is not None:
        add("optimizer", compiled)
    for name, value in vars(model).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                add(f"{name}[{i}]", item)
        elif isinstance(value, dict):
            for key, item in value.items():
                add(f"{name}[{key!r}]", item)
        else:
            add(name, value)
    return found


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)


def describe(optimizers: dict) -> str:
    return ", ".join(f"{name} ({type(optimizer).__name__})" for name, optimizer in optimizers.items())


def chosen_optimizer(model, optimizer, who: str):
    """The optimizer `who` drives (a `LossScaleOptimizer` unwrapped); ValueError when it cannot tell.

    Args:
        model: the model being fit.
        optimizer: the callback's ``optimizer`` argument (None, a name or an optimizer).
        who: the callback's name, for messages.
    """
    held = tracked_optimizers(model)
    if optimizer is None:
        if not held:
            raise ValueError(f"{who}: the model has no optimizer: compile it before calling fit.")
        if len(held) > 1:
            first = next(name for name in held if name != "optimizer")
            raise ValueError(
                f"{who}: the model holds {len(held)} optimizers ({describe(held)}) and {who} was not told "
                f"which one to drive (`optimizer` is None). Pass optimizer='{first}' (the name of the "
                "model attribute) or the optimizer itself."
            )
        return _inner(next(iter(held.values())))
    if isinstance(optimizer, str):
        value = getattr(model, optimizer, None)
        if not isinstance(value, keras.optimizers.Optimizer):
            raise ValueError(
                f"{who}: `optimizer`={optimizer!r} names no optimizer of the model "
                f"({type(model).__name__}.{optimizer} is {type(value).__name__}); the model holds: "
                f"{describe(held) or 'none'}."
            )
        return _inner(value)
    if not any(optimizer is value or optimizer is _inner(value) for value in held.values()):
        raise ValueError(
            f"{who}: the optimizer passed as `optimizer` ({type(optimizer).__name__}) is not one the model "
            f"holds ({describe(held) or 'none'}), so driving it would change nothing fit applies. Pass the "
            "model's own optimizer or the name of its attribute."
        )
    return _inner(optimizer)


def config_value(optimizer):
    """What `get_config` records: the attribute name (or None); an optimizer object is not configuration."""
    return optimizer if optimizer is None or isinstance(optimizer, str) else None
