"""Where `fit` stands in its input, and how a new process gets back there.

Keras 3's `fit` keeps its `EpochIterator` in a local variable and passes
callbacks no handle to it; `kerasplus._internals.keras.find_running_fit` finds
it from inside a callback's `on_train_begin`. `DataCursor` then steers that one
iterator object (nothing global is patched, and it is discarded with `fit`):

- its iterator factory (`wrap_iterator_factory`) returns a wrapper whose
  ``iter()`` counts how many iterators `fit` made over the data. On a resume it
  first makes and drops as many as the saved run had made before its current
  one (so a `tf.data` ``shuffle(seed=...)``, which reshuffles per iterator, is
  at the same permutation), then skips the batches the saved run had consumed
  from it.
- for the first epoch of a resumed `fit` only, the steps already done are
  dropped (`skip_consumed_batches`), so callbacks see the true step numbers
  and the epoch ends where it would have.

Numpy inputs go through Keras's `ArrayDataAdapter`, whose shuffle is a
`tf.random.shuffle` seeded from the global seed, re-run (with the same seed)
for each iterator: with `keras.utils.set_random_seed` every epoch gets the
same permutation in every process, so skipping is exact.
"""

from __future__ import annotations

from kerasplus._internals import keras as internal_keras

# Data adapters whose batches a fresh process reproduces given the seeds.
EXACT_ADAPTERS = ("ArrayDataAdapter", "TFDatasetAdapter")


class _Counted:
    """What fit's wrapped iterator factory returns: ``iter()`` of it is counted."""

    def __init__(self, cursor, source):
        self._cursor = cursor
        self._source = source

    def __iter__(self):
        return self._cursor.new_iterator(self._source)


class DataCursor:
    """Counts iterators and batches of one `fit`; replays a saved position."""

    def __init__(self, epoch_iterator):
        self.epoch_iterator = epoch_iterator
        self.iterators = 0  # iterators made so far in this fit (incl. replayed)
        self.consumed = 0  # batches taken from the current one
        self._pending = None
        self._make_source = internal_keras.wrap_iterator_factory(epoch_iterator, lambda source: _Counted(self, source))

    @property
    def adapter_name(self) -> str:
        return type(self.epoch_iterator.data_adapter).__name__

    def batch_size(self) -> int | None:
        """The batch size fit reads its input with, when the data adapter says (numpy: always)."""
        size = getattr(self.epoch_iterator.data_adapter, "batch_size", None)
        return size if isinstance(size, int) and not isinstance(size, bool) else None

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
            internal_keras.skip_consumed_batches(self.epoch_iterator, int(step_in_epoch), int(consumed))

    def new_iterator(self, source):
        """The iterator `fit` takes an epoch's batches from; the first one of a resumed fit is put back."""
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
