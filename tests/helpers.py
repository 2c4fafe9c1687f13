"""Tiny models whose weights reveal what the optimizer did."""

import socket

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kerasplus_tests")
def sum_loss(y_true, y_pred):
    """Loss whose gradient with respect to the prediction is 1."""
    return ops.sum(y_pred)


def rate_probe(num_steps, optimizer=None, **compile_kwargs):
    """A model where batch k is the one-hot row e_k, so SGD writes -lr_k into weight k.

    Train it with ``batch_size=1, shuffle=False``: afterwards ``-kernel[k]`` is
    exactly the learning rate applied at optimizer step k.
    """
    model = keras.Sequential(
        [
            keras.Input((num_steps,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model.compile(optimizer or keras.optimizers.SGD(learning_rate=1.0), loss=sum_loss, **compile_kwargs)
    x = np.eye(num_steps, dtype="float32")
    y = np.zeros((num_steps, 1), dtype="float32")
    return model, x, y


def applied_rates(model):
    return -model.get_weights()[0][:, 0].astype(np.float64)


def values(schedule_fn, steps, **kwargs):
    return ops.convert_to_numpy(schedule_fn(np.asarray(steps), **kwargs)).astype(np.float64)


def torch_curve(scheduler_name, num_steps, **kwargs):
    """torch's rate and momentum after k calls of ``scheduler.step()``, k = 0..num_steps.

    Index k is also the value torch applies in its (k+1)-th optimizer step.
    `scheduler_name` is a class in ``torch.optim.lr_scheduler``.
    """
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1, momentum=0.9)
    scheduler = getattr(torch.optim.lr_scheduler, scheduler_name)(optimizer, **kwargs)
    rates = [optimizer.param_groups[0]["lr"]]
    momenta = [optimizer.param_groups[0]["momentum"]]
    for _ in range(num_steps):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
    return np.array(rates), np.array(momenta)


def run_script_on(backend, script, timeout=300):
    """Runs `script` with ``python -c`` on Keras backend `backend` in a fresh process; its ``RESULT {json}`` line, parsed."""
    import json
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=root, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def free_ports(n):
    """`n` distinct free TCP ports on 127.0.0.1 (for workers a test starts)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
