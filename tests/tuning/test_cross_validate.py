import keras
import numpy as np
import pytest

from kerasplus.data import load
from kerasplus.tuning import cross_validate


def build():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model.compile(
        keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def test_one_fresh_model_per_fold_with_mean_and_std():
    x, y = load("iris")
    x = (x - x.mean(0)) / x.std(0)
    built = []

    def counting_build():
        built.append(build())
        return built[-1]

    result = cross_validate(counting_build, x, y, k=4, fit_kwargs={"epochs": 20})
    assert len(built) == 4 and len({id(m) for m in built}) == 4
    accuracies = [fold["accuracy"] for fold in result["folds"]]
    assert result["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert result["std"]["accuracy"] == pytest.approx(np.std(accuracies))
    assert result["mean"]["accuracy"] > 0.8


def test_same_seed_same_scores():
    x, y = load("iris")
    a = cross_validate(build, x, y, k=3, seed=2)
    b = cross_validate(build, x, y, k=3, seed=2)
    assert a["folds"] == b["folds"]


def test_build_model_must_return_a_compiled_model():
    x, y = load("iris")
    with pytest.raises(ValueError, match="`build_model` must return a compiled model"):
        cross_validate(lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), x, y, k=2)
    with pytest.raises(TypeError, match="`build_model` must return a keras Model; it returned str"):
        cross_validate(lambda: "model", x, y, k=2)
    with pytest.raises(ValueError, match="`k` must be an integer >= 2"):
        cross_validate(build, x, y, k=1)


def test_fit_arguments_are_passed_to_every_fit_as_search_takes_them():
    x, y = load("iris")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.params)

    result = cross_validate(build, x, y, k=2, epochs=3, batch_size=64, callbacks=[Record()])
    assert len(result["folds"]) == 2
    assert [(p["epochs"], p["steps"]) for p in seen] == [(3, 2), (3, 2)]  # 75 samples per fold, batches of 64


def test_one_epoch_by_default_and_the_old_dictionary_still_works():
    x, y = load("iris")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.params["epochs"])

    cross_validate(build, x, y, k=2, callbacks=[Record()])
    with pytest.warns(DeprecationWarning, match="pass the fit arguments directly"):
        cross_validate(build, x, y, k=2, fit_kwargs={"epochs": 2, "callbacks": [Record()]})
    assert seen == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="takes `validation_data` from the folds"):
        cross_validate(build, x, y, k=2, validation_data=(x, y))
