"""Beta(a, b) samples that compile under XLA (Jöhnk for small shapes, Marsaglia-Tsang otherwise).

TensorFlow's gamma sampler (`StatelessRandomGammaV3`, behind `keras.random.beta`)
has no XLA CPU kernel, so Mixup/CutMix could not run with `jit_compile=True`.
This draws Gamma variates with Marsaglia & Tsang's method (2000) using a fixed
number of vectorised proposals per sample and takes the first accepted one;
each proposal is accepted with probability > 0.95, so all of them are
rejected with probability < 0.05**8 ≈ 4e-11 (then the last is used).
Shapes below 1 use Gamma(a) = Gamma(a + 1) * U**(1/a), and Beta is formed in
log space, ``sigmoid(log X - log Y)``, so tiny shapes cannot give 0/0.
"""

from __future__ import annotations

import math

from kerasplus import _validation as v
from kerasplus.layers._backend import eager_torch, ops, random

PROPOSALS = 8

# Concentrations for which the float32 arithmetic below is sound: Jöhnk's
# log(U) / a stays finite for a >= 1e-30 (|log U| <= 27.7), and Marsaglia-Tsang's
# d = a - 1/3 and d * v stay finite for a <= 1e30 (float32 tops out at 3.4e38).
# Towards either end Beta(a, a) is a fair coin on {0, 1} or the constant 0.5,
# which the sampler reproduces (tests/layers/test_mixup.py).
ALPHA_RANGE = (1e-30, 1e30)


def check_alpha(name, value):
    """A Beta concentration in `ALPHA_RANGE`."""
    return v.check_range(name, value, *ALPHA_RANGE)


def _log_gamma_sample(seed_generator, shape, a):
    """log of Gamma(a, 1) samples of `shape` (`a` a Python float > 0)."""
    boost = a < 1.0
    d = (a + 1.0 if boost else a) - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    x = random.normal((PROPOSALS, *shape), seed=seed_generator)
    u = random.uniform((PROPOSALS, *shape), minval=1e-12, maxval=1.0, seed=seed_generator)
    v = (1.0 + c * x) ** 3
    safe_v = ops.where(v > 0, v, ops.ones_like(v))
    accept = ops.logical_and(v > 0, ops.log(u) < 0.5 * x * x + d - d * safe_v + d * ops.log(safe_v))
    # Index of the first accepted proposal (the last one if none is).
    ranks = ops.where(accept, ops.arange(PROPOSALS, dtype="float32")[:, None], float(PROPOSALS - 1))
    first = ops.cast(ops.min(ranks, axis=0), "int32")
    chosen = ops.sum(ops.one_hot(first, PROPOSALS, axis=0, dtype="float32") * safe_v, axis=0)
    log_sample = math.log(d) + ops.log(chosen)
    if boost:
        w = random.uniform(shape, minval=1e-12, maxval=1.0, seed=seed_generator)
        log_sample = log_sample + ops.log(w) / a
    return log_sample


def beta_sample(seed_generator, batch, a: float, b: float):
    """`batch` samples of Beta(a, b) as float32, XLA-compatible (Beta(1, 1) is a uniform).

    Each random quantity has its own `keras.random` draw: slicing one shared
    draw let XLA fuse the random-number generation into the per-pixel image
    pass, 2-5x slower (measured with benchmarks/augmentation.py).
    """
    if a == 1.0 and b == 1.0:
        return random.uniform((batch,), seed=seed_generator)
    if a <= 0.5 and b <= 0.5:
        return _johnk(seed_generator, batch, float(a), float(b))
    shape = (batch,)
    log_x = _log_gamma_sample(seed_generator, shape, float(a))
    log_y = _log_gamma_sample(seed_generator, shape, float(b))
    return ops.sigmoid(log_x - log_y)


def _proposals_for(acceptance):
    """Fewest proposals with P(all rejected) < 1e-9: random numbers are the cost under XLA CPU."""
    if acceptance >= 1.0 - 1e-12:  # tiny shapes: every proposal is accepted
        return 2
    return max(2, math.ceil(math.log(1e-9) / math.log(1.0 - acceptance)))


def _johnk(seed_generator, batch, a, b):
    """Jöhnk's method (1964) for small shapes: X = U**(1/a), Y = V**(1/b), accept X + Y <= 1.

    Acceptance is Gamma(a+1)Gamma(b+1)/Gamma(a+b+1) (0.95 for Mixup's usual
    a = b = 0.2, >= 0.785 for a, b <= 0.5); the number of proposals is chosen
    so that all are rejected with probability < 1e-9. Two draws, no normals.
    """
    acceptance = math.exp(math.lgamma(a + 1) + math.lgamma(b + 1) - math.lgamma(a + b + 1))
    proposals = _proposals_for(acceptance)
    if eager_torch():
        # Eager PyTorch runs op by op: one draw for both variates is one
        # random-number kernel instead of two.
        u = ops.log(random.uniform((2, proposals, batch), minval=1e-12, maxval=1.0, seed=seed_generator))
        log_x, log_y = u[0] / a, u[1] / b
    else:
        # Under XLA one draw per variate, both of one shape: TensorFlow's XLA
        # CPU keeps two same-shaped Philox draws in one out-of-line rng
        # computation, but inlines a lone draw into the fusion that consumes
        # it, where each number costs ~0.5 us (the one shared draw made Mixup
        # ~10x slower there: 0.73x Keras's MixUp, benchmarks/augmentation.py).
        shape = (proposals, batch)
        log_x = ops.log(random.uniform(shape, minval=1e-12, maxval=1.0, seed=seed_generator)) / a
        log_y = ops.log(random.uniform(shape, minval=1e-12, maxval=1.0, seed=seed_generator)) / b
    accept = ops.logaddexp(log_x, log_y) <= 0.0
    ranks = ops.where(accept, ops.arange(proposals, dtype="float32")[:, None], float(proposals - 1))
    first = ops.cast(ops.min(ranks, axis=0), "int32")
    pick = ops.one_hot(first, proposals, axis=0, dtype="float32")
    return ops.sigmoid(ops.sum(pick * (log_x - log_y), axis=0))
