import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True)
def _seeded():
    # Keras is imported here, not at module level, so the pytest-xdist controller
    # process never loads TensorFlow (whose C++ logger prints at process exit,
    # after pytest's summary line).
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
