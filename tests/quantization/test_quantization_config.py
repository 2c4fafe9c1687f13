import pytest

from kerasplus.quantization import QuantizationConfig


def test_config_holds_and_returns_its_arguments():
    config = QuantizationConfig(keep_float=["a", "b"], ema_decay=0.9)
    assert config.get_config() == {"keep_float": ("a", "b"), "ema_decay": 0.9, "preserve_sparsity": False}
    assert QuantizationConfig.from_config(config.get_config()).get_config() == config.get_config()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"keep_float": "dense"}, TypeError, "keep_float"),
        ({"keep_float": [1]}, TypeError, "keep_float"),
        ({"ema_decay": 1.0}, ValueError, "ema_decay"),
        ({"ema_decay": -0.1}, ValueError, "ema_decay"),
        ({"ema_decay": "0.9"}, TypeError, "ema_decay"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        QuantizationConfig(**kwargs)


def test_preserve_sparsity_must_be_a_bool():
    with pytest.raises(TypeError, match=r"`preserve_sparsity` must be True or False; received preserve_sparsity=1"):
        QuantizationConfig(preserve_sparsity=1)
