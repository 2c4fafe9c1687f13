import importlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

from kerasplus.distribute import auto_strategy, choose, describe, parse_tf_config

ROOT = Path(__file__).resolve().parents[2]
TWO_WORKERS = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}


class FakeResolver:
    """Stands in for a TPUClusterResolver that found a TPU (no TPU on this machine)."""

    def __init__(self, tpu):
        self.tpu = tpu

    def master(self):
        return self.tpu or ""


def no_tpu(tpu):
    raise ValueError("Please provide a TPU Name to connect to.")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


def test_tpu_found_by_the_resolver_is_connected_and_chosen(caplog):
    connected = []

    def connect(resolver):
        connected.append(resolver)
        return tf.distribute.OneDeviceStrategy("/cpu:0")  # stands in for TPUStrategy

    with caplog.at_level(logging.INFO, logger="kerasplus.distribute"):
        strategy = auto_strategy(tpu="my-tpu", tpu_resolver=FakeResolver, tpu_connect=connect)
    assert len(connected) == 1 and connected[0].tpu == "my-tpu"
    info = describe(strategy)
    assert info["reason"] == "a TPU was found by TPUClusterResolver at 'my-tpu'"
    assert "auto_strategy chose OneDeviceStrategy: a TPU was found" in caplog.text


def test_tpu_comes_before_tf_config_and_gpus():
    choice = choose(tpu_resolver=FakeResolver, tf_config=TWO_WORKERS, gpus=["/gpu:0", "/gpu:1"])
    assert choice.kind == "tpu" and isinstance(choice.resolver, FakeResolver)


def test_failing_resolver_falls_through_and_the_reason_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="kerasplus.distribute"):
        strategy = auto_strategy(tpu_resolver=no_tpu, devices=[])
    assert strategy is tf.distribute.get_strategy()
    reason = describe(strategy)["reason"]
    assert reason.startswith("nothing to distribute over")
    assert "skipped: no TPU (ValueError: Please provide a TPU Name to connect to.)" in reason
    assert "skipped: TF_CONFIG is unset" in reason
    assert "skipped: no device visible" in reason
    assert reason in caplog.text


def test_real_resolver_without_a_tpu_falls_through():
    choice = choose(gpus=[])  # TPUClusterResolver() raises off Google Cloud
    assert choice.kind == "default"
    assert choice.skipped[0].startswith("no TPU (")


def test_tpu_connection_that_fails_falls_through_unless_tpu_was_forced():
    def broken(resolver):
        raise tf.errors.NotFoundError(None, None, "no TPU system")

    strategy = auto_strategy(tpu_resolver=FakeResolver, tpu_connect=broken, devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert "skipped: TPU connection failed (NotFoundError: no TPU system)" in describe(strategy)["reason"]
    with pytest.raises(RuntimeError, match="strategy='tpu' was asked for but connecting failed"):
        auto_strategy("tpu", tpu_resolver=FakeResolver, tpu_connect=broken)


def test_tpu_address_that_does_not_answer_falls_through_quickly():
    address = f"grpc://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    choice = choose(tpu=address, gpus=[], timeout=2.0)  # the real TPUClusterResolver path
    assert time.monotonic() - start < 5
    assert choice.kind == "default"
    assert choice.skipped[0] == f"TPU address {address!r} did not answer within 2.0 s"
    with pytest.raises(RuntimeError, match="strategy='tpu' was asked for but TPU address .* did not answer"):
        choose("tpu", tpu=address, timeout=2.0)


def test_resolver_that_hangs_is_abandoned_after_timeout():
    def slow(tpu):
        time.sleep(10)
        return FakeResolver(tpu)

    start = time.monotonic()
    choice = choose(tpu_resolver=slow, gpus=[], timeout=0.5)
    assert time.monotonic() - start < 3
    assert choice.kind == "default"
    assert "TimeoutError: TPUClusterResolver did not finish within 0.5 s" in choice.skipped[0]


def test_tpu_connect_that_hangs_raises_timeout():
    def slow(resolver):
        time.sleep(10)

    with pytest.raises(TimeoutError, match="Connecting to the TPU did not finish within 0.5 s"):
        auto_strategy(tpu_resolver=FakeResolver, tpu_connect=slow, timeout=0.5)


@pytest.mark.parametrize("source", ["argument", "environment"])
def test_tf_config_with_two_workers_chooses_multi_worker(monkeypatch, source):
    if source == "environment":
        monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
        choice = choose(tpu_resolver=no_tpu, gpus=["/gpu:0", "/gpu:1"])
    else:
        choice = choose(tpu_resolver=no_tpu, tf_config=json.dumps(TWO_WORKERS), gpus=["/gpu:0", "/gpu:1"])
    assert choice.kind == "multi_worker" and choice.reason == "TF_CONFIG names 2 workers"


def test_chief_counts_as_a_worker_and_one_worker_is_not_multi_worker():
    chief_and_worker = {"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "chief", "index": 0}}
    assert choose(tpu_resolver=no_tpu, tf_config=chief_and_worker, gpus=[]).kind == "multi_worker"
    one = {"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 0}}
    choice = choose(tpu_resolver=no_tpu, tf_config=one, gpus=[])
    assert choice.kind == "default" and "TF_CONFIG names 1 worker" in choice.skipped


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": ["h:1", "h:2"]}}', 'TF_CONFIG names 2 workers but no "task"'),
        ('["worker"]', "TF_CONFIG must be a JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG needs a non-empty "cluster"'),
        ('{"cluster": {"worker": "h:1,h:2"}}', 'cluster job "worker" must be a list of "host:port"'),
        ('{"cluster": {"worker": ["h1", "h2"]}}', 'cluster job "worker" must be a list of "host:port"'),
        ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker"}}', '"task" must be'),
        ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps' is not a job"),
        (
            '{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}',
            r"index must be an integer in \[0, 2\)",
        ),
    ],
)
def test_malformed_tf_config_is_a_clear_error(monkeypatch, tf_config, message):
    if 'no "task"' not in message:  # a cluster without a task parses; choosing multi-worker needs it
        with pytest.raises(ValueError, match=message):
            parse_tf_config(tf_config)
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        auto_strategy(tpu_resolver=no_tpu)


@pytest.mark.parametrize(
    "gpus, kind, reason",
    [
        (["/gpu:0", "/gpu:1", "/gpu:2"], "mirrored", "3 GPUs visible"),
        (["/gpu:0"], "one_device", "one GPU visible: /gpu:0"),
        ([], "default", "nothing to distribute over"),
    ],
)
def test_gpu_count_picks_the_strategy(monkeypatch, gpus, kind, reason):
    module = importlib.import_module("kerasplus.distribute.auto_strategy")  # the name is shadowed
    monkeypatch.setattr(module, "_visible_gpus", lambda: list(gpus))
    choice = choose(tpu_resolver=no_tpu)
    assert (choice.kind, choice.reason, choice.devices) == (kind, reason, gpus if kind == "mirrored" else gpus[:1])


def test_forced_choices(monkeypatch):
    assert choose("default", tpu_resolver=FakeResolver, tf_config=TWO_WORKERS).kind == "default"
    assert choose("mirrored", gpus=["/cpu:0"]).reason == "asked for: MirroredStrategy over 1 devices"
    strategy = auto_strategy("one_device", devices=["/cpu:0"])
    info = describe(strategy)
    assert info["strategy"] == "OneDeviceStrategy" and info["replicas"] == 1
    assert info["devices"] == ["/job:localhost/replica:0/task:0/device:CPU:0"]
    assert info["reason"] == "asked for: OneDeviceStrategy on /cpu:0"
    with pytest.raises(RuntimeError, match="strategy='multi_worker' needs a TF_CONFIG naming more than one worker"):
        choose("multi_worker")
    with pytest.raises(RuntimeError, match="strategy='tpu' was asked for but no TPU"):
        choose("tpu", tpu_resolver=no_tpu)


def test_describe_the_current_strategy_and_reject_other_things():
    info = describe()
    assert info["strategy"] == "_DefaultDistributionStrategy" and info["replicas"] == 1
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert describe()["strategy"] == "OneDeviceStrategy"
        assert describe()["reason"] is None  # not made by auto_strategy
    with pytest.raises(TypeError, match="`strategy` must be a tf.distribute.Strategy"):
        describe("mirrored")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(strategy="gpu"), ValueError, "`strategy` must be one of 'auto', 'tpu'"),
        (dict(timeout=0), ValueError, "`timeout` must be > 0"),
        (dict(cluster_timeout=-1), ValueError, "`cluster_timeout` must be > 0"),
        (dict(communication_timeout=0), ValueError, "`communication_timeout` must be > 0"),
        (dict(tpu=8470), TypeError, "`tpu` must be a TPU name or a 'grpc://host:port' address"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        auto_strategy(tpu_resolver=no_tpu, **kwargs)


@pytest.mark.slow
def test_a_worker_whose_peer_never_comes_raises_within_the_cluster_timeout():
    # One worker of two is started; it must give up after cluster_timeout, not hang.
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        ports = [a.getsockname()[1], b.getsockname()[1]]
    config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
    code = (
        "import kerasplus.distribute as d\n"
        "try:\n"
        "    d.auto_strategy(cluster_timeout=3)\n"
        "except Exception as e:\n"
        "    print('RAISED', type(e).__name__, flush=True)\n"
    )
    env = {**os.environ, "TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    start = time.monotonic()
    try:
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert time.monotonic() - start < 60  # TF's own default would wait an hour
    assert "RAISED DeadlineExceededError" in out, (out, err[-2000:])
