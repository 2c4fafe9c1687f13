"""Interpolation between two values, shared by every schedule.

`pct` is the fraction of the phase done and `remaining` the fraction ahead
(``1 - pct``, passed separately because callers compute both exactly from
integer step counts). Each formula is anchored at the nearer endpoint, so in
float32 the result stays within a few ulps even where torch's float64
``start + (end - start) * pct`` would cancel catastrophically (a rate of 4e-6
reached from 1.0, say):

* linear: ``start + (end - start) * pct`` or ``end + (start - end) * remaining``
* cos:    ``start + (end - start) * sin(pi/2 * pct) ** 2`` or
  ``end + (start - end) * sin(pi/2 * remaining) ** 2``; both equal torch's
  ``end + (start - end) / 2 * (1 + cos(pi * pct))`` in real arithmetic.
* exp:    ``end * (start / end) ** remaining`` (geometric; both values > 0).
"""

import math

from keras import ops

ANNEAL_STRATEGIES = ("cos", "linear")


def anneal(start, end, pct, remaining, strategy):
    """Value at `pct` in [0, 1] (extrapolates outside) between start and end."""
    if strategy in ("linear", "cos"):
        if strategy == "linear":
            shape_done, shape_left = pct, remaining
        else:
            shape_done = ops.square(ops.sin((math.pi / 2.0) * pct))
            shape_left = ops.square(ops.sin((math.pi / 2.0) * remaining))
        from_start = start + (end - start) * shape_done
        from_end = end + (start - end) * shape_left
        return ops.where(pct < 0.5, from_start, from_end)
    if strategy == "exp":
        log_ratio = ops.log(start) - ops.log(end)
        return end * ops.exp(log_ratio * remaining)
    raise ValueError(f"Unknown anneal strategy {strategy!r}.")


def as_float_step(step):
    """The optimizer step (any int/float tensor or number) as a float32 tensor."""
    return ops.cast(ops.convert_to_tensor(step), "float32")
