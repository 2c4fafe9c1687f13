import json
import subprocess
import sys

import pytest

import kerasplus

HEAVY = ["tensorflow_model_optimization", "tf_keras", "keras_tuner", "sklearn", "matplotlib"]


def modules_after(statement):
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_kerasplus_does_not_import_heavy_optional_dependencies():
    loaded = modules_after("import kerasplus")
    assert not [name for name in HEAVY if name in loaded]


def test_namespaces_add_no_heavy_import_beyond_what_keras_loads():
    # `import keras` itself loads matplotlib (keras.src.visualization) when it is
    # installed; what kerasplus's namespaces load must not go beyond that.
    keras_only = modules_after("import keras")
    touch_all = "; ".join(f"kerasplus.{name}" for name in kerasplus._NAMESPACES)
    ours = modules_after(f"import kerasplus; {touch_all}; kerasplus.lr_find")
    added = {name.split(".")[0] for name in ours - keras_only}
    assert not added & set(HEAVY), added


def test_plain_import_is_lazy():
    loaded = modules_after("import kerasplus")
    assert "keras" not in loaded and "tensorflow" not in loaded


def test_every_namespace_is_importable():
    for name in kerasplus._NAMESPACES:
        assert getattr(kerasplus, name).__name__ == f"kerasplus.{name}"
    assert kerasplus.lr_find is kerasplus.callbacks.lr_find
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = kerasplus.nope
