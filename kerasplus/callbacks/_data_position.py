"""Where `fit` stands in its input, and how a new process gets back there.

Keras 3's `fit` keeps its `EpochIterator` in a local variable and passes
callbacks no handle to it. `find_fit` looks it up (read-only) in the frame of
the running `fit`, from inside a callback's `on_train_begin`. `DataCursor`
then sets two instance attributes on that one iterator object (nothing global
is patched, and it is discarded with `fit`):

- ``_get_iterator`` returns a wrapper whose ``iter()`` counts how many
  iterators `fit` made over the data. On a resume it first makes and drops as
  many as the saved run had made before its current one (so a `tf.data`
  ``shuffle(seed=...)``, which reshuffles per iterator, is at the same
  permutation), then skips the batches the saved run had consumed from it.
- ``_enumerate_iterator``, for the first epoch of a resumed `fit` only, drops
  the steps already done, so callbacks see the true step numbers and the
  epoch ends where it would have.

Numpy inputs go through Keras's `ArrayDataAdapter`, whose shuffle is a
`tf.random.shuffle` seeded from the global seed, re-run (with the same seed)
for each iterator: with `keras.utils.set_random_seed` every epoch gets the
same permutation in every process, so skipping is exact.
"""

from __future__ import annotations

import sys

# Data adapters whose batches a fresh process reproduces given the seeds.
EXACT_ADAPTERS = ("ArrayDataAdapter", "TFDatasetAdapter")


def find_fit(max_depth: int = 12):
    """``(epoch_iterator, callback_list)`` of the `fit` running below the caller, or Nones."""
    from keras.src.callbacks.callback_list import CallbackList
    from keras.src.trainers.epoch_iterator import EpochIterator

    frame = sys._getframe(1)
    epoch_iterator = callback_list = None
    for _ in range(max_depth):
        if frame is None:
            break
        local = frame.f_locals
        candidate = local.get("self")
        if callback_list is None and isinstance(candidate, CallbackList):
            callback_list = candidate
        if isinstance(local.get("epoch_iterator"), EpochIterator):
            epoch_iterator = local["epoch_iterator"]
            candidate = local.get("callbacks")
            if callback_list is None and isinstance(candidate, CallbackList):
                callback_list = candidate
            break
        frame = frame.f_back
    return epoch_iterator, callback_list


class _Counted:
    """What the wrapped ``_get_iterator`` returns: ``iter()`` of it is counted."""

    def __init__(self, cursor, source):
        self._cursor = cursor
        self._source = source

    def __iter__(self):
        return self._cursor._new_iterator(self._source)


class DataCursor:
    """Counts iterators and batches of one `fit`; replays a saved position."""

    def __init__(self, epoch_iterator):
        self.epoch_iterator = epoch_iterator
        self.iterators = 0  # iterators made so far in this fit (incl. replayed)
        self.consumed = 0  # batches taken from the current one
        self._pending = None
        self._make_source = type(epoch_iterator)._get_iterator.__get__(epoch_iterator)
        epoch_iterator._get_iterator = lambda: _Counted(self, self._make_source())

    @property
    def adapter_name(self) -> str:
        return type(self.epoch_iterator.data_adapter).__name__

    def exact(self) -> bool:
        return self.adapter_name in EXACT_ADAPTERS

    def position(self) -> dict:
        return {"iterators": self.iterators, "consumed": self.consumed}

    def advance(self, batches: int):
        self.consumed += batches

    def resume(self, iterators: int, consumed: int, step_in_epoch: int):
        """Arranges for this fit's first iterator to continue where a saved run was."""
        self._pending = (int(iterators), int(consumed))
        if step_in_epoch > 0 or consumed > 0:
            self._drop_steps(step_in_epoch, consumed)

    def _new_iterator(self, source):
        if self._pending is None:
            self.iterators += 1
            self.consumed = 0
            return iter(source)
        iterators, consumed = self._pending
        self._pending = None
        for _ in range(iterators - 1):
            iter(self._make_source())  # made and dropped, as the saved run did
        iterator = iter(source)
        for _ in range(consumed):
            next(iterator)
        self.iterators, self.consumed = max(iterators, 1), consumed
        return iterator

    def _drop_steps(self, step_in_epoch: int, consumed: int):
        epoch_iterator = self.epoch_iterator
        generate = type(epoch_iterator)._enumerate_iterator.__get__(epoch_iterator)

        def resumed():
            del epoch_iterator._enumerate_iterator  # this epoch only
            adjusted = False
            for item in generate():
                if item[0] < step_in_epoch:
                    continue  # done before the interruption; its data was skipped
                if not adjusted:
                    # Keras counts the batches taken from the current iterator to
                    # know when it runs out; ours are `consumed`, not one per yield.
                    epoch_iterator._steps_seen += consumed - step_in_epoch
                    adjusted = True
                yield item

        epoch_iterator._enumerate_iterator = resumed
