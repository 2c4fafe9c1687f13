"""Profiling is Keras's own `TensorBoard(profile_batch=(start, stop))`; kerasplus adds no class.

This test is the documentation's proof: the callback writes an XSpace trace
(``*.xplane.pb``) for the chosen batches, and tensorboard-plugin-profile (a
declared dependency; since 2.22 a pass-through to the `xprof` package) turns
it into the trace viewer and the overview page that TensorBoard's Profile tab
shows.
"""

import json

import keras
import numpy as np


def profiled_fit(log_dir, **compile_kwargs):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile("sgd", "mse", **compile_kwargs)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(log_dir), profile_batch=(2, 4), write_graph=False)
    model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0, callbacks=[tensorboard])


def test_tensorboard_profile_batch_writes_a_trace_the_profile_plugin_reads(tmp_path):
    import tensorboard_plugin_profile  # noqa: F401  (the declared dependency; installs xprof)
    from xprof.convert import raw_to_tool_data

    profiled_fit(tmp_path)
    traces = sorted(tmp_path.glob("train/plugins/profile/*/*.xplane.pb"))
    assert len(traces) == 1 and traces[0].stat().st_size > 0
    paths = [str(traces[0])]

    assert {"trace_viewer@", "overview_page"} <= set(raw_to_tool_data.xspace_to_tool_names(paths))

    trace, content_type = raw_to_tool_data.xspace_to_tool_data(paths, "trace_viewer", {})
    assert content_type == "application/json"
    events = json.loads(trace)["traceEvents"]
    names = {event.get("name", "") for event in events}
    # The profiled batches: Keras's compiled train step and the backward pass of our ReLU.
    assert {"multi_step_on_iterator", "ReluGrad"} <= names, sorted(names)

    overview, _ = raw_to_tool_data.xspace_to_tool_data(paths, "overview_page", {})
    tables = json.loads(overview)
    assert isinstance(tables, list) and tables and "cols" in tables[0]


def test_no_trace_when_profile_batch_is_off(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((16, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, verbose=0, callbacks=[keras.callbacks.TensorBoard(str(tmp_path))])
    assert not list(tmp_path.rglob("*.xplane.pb"))  # the test above can tell
