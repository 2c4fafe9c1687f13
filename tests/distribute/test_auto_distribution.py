"""`auto_distribution` and `auto_strategy` on JAX: DataParallel over the simulated CPU devices, logged, described."""

import pytest

from tests.distribute.jax_child import run_jax

pytest.importorskip("jax", reason="the [dev] extra installs jax")

CODE = """
import logging, keras, jax
import kerasplus
from kerasplus.distribute import auto_distribution, auto_strategy, describe

records = []
handler = logging.Handler()
handler.emit = lambda record: records.append(record.getMessage())
logging.getLogger("kerasplus.distribute").addHandler(handler)
logging.getLogger("kerasplus.distribute").setLevel(logging.INFO)

def error(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None

out = {"before": describe()}
distribution = auto_distribution()
out["type"] = type(distribution).__name__
out["describe"] = describe(distribution)
out["log"] = records[:]
out["strategy"] = describe(auto_strategy())
out["mirrored"] = describe(auto_strategy("mirrored", devices=jax.devices()[2:]))
out["one_device"] = describe(auto_strategy("one_device"))
out["given"] = describe(auto_distribution(devices=["cpu:0", "cpu:1"]))
keras.distribution.set_distribution(distribution)
out["active"] = describe()
keras.distribution.set_distribution(None)
out["errors"] = {
    "tpu": error(auto_distribution, tpu="my-tpu"),
    "strategy_tpu": error(auto_strategy, "tpu"),
    "gpu": error(auto_distribution, "gpu"),
    "batch": error(auto_distribution, batch_size=10),
    "platform": error(auto_distribution, "npu"),
    "devices": error(auto_distribution, devices=[]),
    "multi_worker": error(auto_strategy, "multi_worker"),
    "tf_config": error(auto_strategy, tf_config={"cluster": {"worker": ["h:1", "h:2"]}}),
}
"""


@pytest.fixture(scope="module")
def result():
    return run_jax(CODE, devices=4)


def test_chooses_data_parallel_over_every_cpu_device_and_says_why(result):
    assert result["type"] == "DataParallel"
    info = result["describe"]
    assert info["strategy"] == "DataParallel" and info["replicas"] == 4
    assert info["devices"] == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
    assert info["reason"].startswith("4 CPU devices visible to JAX; skipped: no TPU (")
    assert "; skipped: no GPU (" in info["reason"]
    assert result["log"] == [f"auto_distribution chose DataParallel over cpu:0, cpu:1, cpu:2, cpu:3: {info['reason']}"]


def test_auto_strategy_on_jax_delegates_to_auto_distribution(result):
    assert result["strategy"]["strategy"] == "DataParallel" and result["strategy"]["replicas"] == 4
    assert result["mirrored"]["devices"] == ["cpu:2", "cpu:3"]
    assert result["mirrored"]["reason"] == "asked for: 2 devices (cpu)"
    assert result["one_device"]["replicas"] == 1 and result["one_device"]["devices"] == ["cpu:0"]
    assert result["given"]["replicas"] == 2


def test_describe_reads_the_active_distribution(result):
    assert result["before"] == {"strategy": None, "replicas": 1, "devices": ["cpu:0"], "reason": None}
    assert result["active"] == result["describe"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("tpu", "ValueError: `tpu`='my-tpu' asks for a TPU but JAX has none (no TPU (RuntimeError"),
        ("strategy_tpu", "ValueError: `platform`='tpu' was asked for but JAX has no such device"),
        ("gpu", "ValueError: `platform`='gpu' was asked for but JAX has no such device"),
        ("batch", "ValueError: `batch_size`=10 does not split evenly over the 4 replicas of the distribution"),
        ("platform", "ValueError: `platform` must be one of 'auto', 'tpu', 'gpu', 'cpu'"),
        ("devices", "ValueError: `devices` must name at least one device"),
        ("multi_worker", "ValueError: `strategy`='multi_worker' names a tf.distribute strategy"),
        ("tf_config", "ValueError: `tf_config` configures tf.distribute"),
    ],
)
def test_bad_requests_are_value_errors_with_the_fix(result, case, message):
    assert result["errors"][case] is not None and result["errors"][case].startswith(message), result["errors"][case]


def test_refuses_other_backends():
    import keras

    from kerasplus.distribute import auto_distribution

    if keras.backend.backend() == "jax":
        pytest.skip("this process runs JAX")
    with pytest.raises(ValueError, match="auto_distribution builds a keras.distribution for the JAX backend"):
        auto_distribution()
