"""float64 numpy references for the classification losses."""

import numpy as np


def log_softmax(z):
    z = np.asarray(z, np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def focal(targets, logits, gamma, alpha=None):
    log_p = log_softmax(logits)
    p = np.exp(log_p)
    terms = -targets * (1.0 - p) ** gamma * log_p
    if alpha is not None:
        terms = terms * np.asarray(alpha)
    return terms.sum(axis=-1)


def focal_gradient(targets, logits, gamma, step=1e-6):
    """Central differences in float64 of the mean focal loss."""
    logits = np.asarray(logits, np.float64)
    grad = np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (focal(targets, up, gamma).mean() - focal(targets, down, gamma).mean()) / (2 * step)
    return grad


def log_sigmoid(z):
    z = np.asarray(z, np.float64)
    return -np.logaddexp(0.0, -z)


def binary_focal(y, z, gamma, alpha=None):
    y = np.asarray(y, np.float64)
    p, not_p = np.exp(log_sigmoid(z)), np.exp(log_sigmoid(-np.asarray(z, np.float64)))
    bce = -(y * log_sigmoid(z) + (1 - y) * log_sigmoid(-np.asarray(z, np.float64)))
    loss = (y * not_p + (1 - y) * p) ** gamma * bce
    if alpha is not None:
        loss = loss * (y * alpha + (1 - y) * (1 - alpha))
    return loss.mean(axis=-1)
