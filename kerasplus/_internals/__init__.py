"""The only place in kerasplus that touches private APIs of its dependencies.

One module per dependency (`keras.py`, `tensorflow.py`, `keras_tuner.py`).
Every function here is registered with `fenced(...)`: why it reaches past the
public API, the public route it waits for, the kerasplus feature that breaks
when it does, and a canary that checks the attribute or signature it relies
on. `tests/_internals/test_canaries.py` runs every canary and names the
feature affected when one fails; `tests/_internals/test_fence.py` fails when a
private import or underscore access appears anywhere else in kerasplus.
"""
