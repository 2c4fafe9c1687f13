import numpy as np
import pytest

from kerasplus.diagnostics import plot_learning_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_writes_a_png_of_every_curve_from_a_history_dict(tmp_path):
    history = {
        "loss": [1.0, 0.5, float("nan"), 0.2],
        "val_loss": [1.1, 0.7, 0.8, 0.9],
        "accuracy": [0.5, 0.7, 0.8, 0.9],
        "val_accuracy": [0.5, 0.6, 0.6, 0.6],
        "learning_rate": [0.1] * 4,
        "diag_verdict": [1.0, 0.0, 3.0, 2.0],
    }
    path = plot_learning_curves(history, tmp_path / "curves.png")
    data = (tmp_path / "curves.png").read_bytes()
    assert path == str(tmp_path / "curves.png") and data.startswith(PNG)
    # Two panels (loss, accuracy) side by side: the image is wider than one panel.
    width = int.from_bytes(data[16:20], "big")
    assert width == 1100


def test_accepts_the_history_fit_returns(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=2, verbose=0)
    assert (tmp_path / "h.png").exists() is False
    plot_learning_curves(history, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes().startswith(PNG)


def test_bad_history_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="history"):
        plot_learning_curves([1.0, 0.5], tmp_path / "x.png")
    with pytest.raises(ValueError, match="no training curve"):
        plot_learning_curves({"val_loss": [1.0]}, tmp_path / "x.png")


def test_a_resumed_fit_is_numbered_from_its_initial_epoch(tmp_path, monkeypatch):
    import keras
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((8, 2)), np.zeros((8, 1))
    history = model.fit(x, y, validation_data=(x, y), epochs=5, initial_epoch=2, verbose=0)
    assert history.epoch == [2, 3, 4]
    plot_learning_curves(history, tmp_path / "resumed.png")
    lines = saved[0].axes[0].lines
    assert [list(line.get_xdata()) for line in lines] == [[3, 4, 5], [3, 4, 5]]  # as Keras prints "Epoch 3/5"
    plot_learning_curves({"loss": [1.0, 0.5]}, tmp_path / "dict.png")
    assert list(saved[1].axes[0].lines[0].get_xdata()) == [1, 2]
