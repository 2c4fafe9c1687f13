"""Where `fit` stands in its input, and how a new process gets back there.

Keras 3's `fit` keeps its `EpochIterator` in a local variable and passes
callbacks no handle to it; `kerasplus._internals.keras.find_running_fit` finds
it from inside a callback's `on_train_begin`. `DataCursor` then steers that one
iterator object (nothing global is patched, and it is discarded with `fit`):

- its iterator factory (`wrap_iterator_factory`) returns a wrapper whose
  ``iter()`` counts how many iterators `fit` made over the data. On a resume it
  first makes and drops as many as the saved run had made before its current
  one, taking a batch from each (so a `tf.data` ``shuffle(seed=...)``, which
  reshuffles per iterator, is at the same permutation, also on JAX and PyTorch,
  where Keras makes the `tf.data` iterator at the first batch), then skips the batches the saved run had consumed
  from it.
- for the first epoch of a resumed `fit` only, the steps already done are
  dropped (`skip_consumed_batches`), so callbacks see the true step numbers
  and the epoch ends where it would have.

Numpy inputs go through Keras's `ArrayDataAdapter`. On TensorFlow its shuffle
is a `tf.random.shuffle` seeded from the global seed, re-run (with the same
seed) for each iterator. On JAX it draws a `np.random.permutation` from NumPy's
global generator at the iterator's first batch; on PyTorch it is a
`torch.utils.data.DataLoader` whose iterator draws from torch's global
generator when it is made (`iter()`) and its `RandomSampler` at the first
batch. A `DataLoader` passed to `fit` does the same, or draws from its own
`generator`. So the cursor records the random states (NumPy's, torch's global,
the loader's and its sampler's generators: `rng_snapshot`) at both moments of
every iterator (``created``, ``started``); a resume puts each back before the
replayed iterator reaches that moment, then restores the global states the
checkpoint holds. With `keras.utils.set_random_seed` every epoch then gets the
same permutation in every process, so skipping is exact.

A `DataLoader` with worker processes, an `IterableDataset`, or a sampler or
batch sampler other than torch's own is not replayed mid-epoch
(`DataCursor.inexact_reason`).
"""

from __future__ import annotations

import sys

import numpy as np

from kerasplus._internals import keras as internal_keras

# Data adapters whose batches a fresh process reproduces given the seeds.
EXACT_ADAPTERS = ("ArrayDataAdapter", "TFDatasetAdapter", "TorchDataLoaderAdapter")


def _loader_generators(loader) -> list:
    """The `torch.Generator`s a DataLoader's iterators draw from besides torch's global one (its, its sampler's)."""
    sampler = loader.sampler if loader.batch_sampler is None else getattr(loader.batch_sampler, "sampler", None)
    found = []
    for generator in (loader.generator, getattr(sampler, "generator", None)):
        if generator is not None and all(generator is not g for g in found):
            found.append(generator)
    return found


def loader_inexact_reason(loader) -> str | None:
    """Why a new process cannot replay `loader`'s batches mid-epoch, or None when it can."""
    from torch.utils import data

    if loader.num_workers:
        return f"its {loader.num_workers} worker processes"
    if isinstance(loader.dataset, data.IterableDataset):
        return "an IterableDataset"
    if loader.batch_sampler is not None and type(loader.batch_sampler) is not data.BatchSampler:
        return f"its batch sampler {type(loader.batch_sampler).__name__}"
    sampler = loader.sampler if loader.batch_sampler is None else loader.batch_sampler.sampler
    if type(sampler) not in (data.SequentialSampler, data.RandomSampler, data.SubsetRandomSampler):
        return f"its sampler {type(sampler).__name__}"
    return None


def rng_snapshot(generators=()) -> dict:
    """The random states an iterator may draw from: NumPy's, torch's global (if torch is loaded), `generators`."""
    torch = sys.modules.get("torch")
    return {
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state().numpy().copy() if torch is not None else None,
        "generators": [g.get_state().numpy().copy() for g in generators],
    }


def set_rng_snapshot(snapshot: dict, generators=()) -> None:
    """Puts back what `rng_snapshot` took (the generators: only when as many were saved)."""
    np.random.set_state(snapshot["numpy"])
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if snapshot.get("torch") is not None:
        torch.set_rng_state(torch.from_numpy(np.array(snapshot["torch"], np.uint8)))
    saved = snapshot.get("generators") or []
    if len(saved) == len(generators):
        for generator, state in zip(generators, saved):
            generator.set_state(torch.from_numpy(np.array(state, np.uint8)))


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
        self._rng = {"created": None, "started": None}  # random states at the current iterator's two moments
        self._history = []  # per iterator made: whether it gave a batch (a lazy one draws nothing before)
        self._generators = []
        adapter = epoch_iterator.data_adapter
        self._loader = adapter.get_torch_dataloader() if self.adapter_name == "TorchDataLoaderAdapter" else None
        if self._loader is not None:
            self._generators = _loader_generators(self._loader)
        self._make_source = internal_keras.wrap_iterator_factory(epoch_iterator, lambda source: _Counted(self, source))

    @property
    def adapter_name(self) -> str:
        return type(self.epoch_iterator.data_adapter).__name__

    def batch_size(self) -> int | None:
        """The batch size fit reads its input with, when the data adapter says (numpy: always)."""
        size = getattr(self.epoch_iterator.data_adapter, "batch_size", None)
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    def inexact_reason(self) -> str | None:
        """Why this fit's input cannot be put back mid-epoch in a new process, or None when it can."""
        if self.adapter_name not in EXACT_ADAPTERS:
            return f"fit reads {self.adapter_name}"
        if self._loader is not None:
            reason = loader_inexact_reason(self._loader)
            if reason is not None:
                return f"fit reads a torch DataLoader with {reason}"
        return None

    def exact(self) -> bool:
        return self.inexact_reason() is None

    def position(self) -> dict:
        """Where the input stands: iterators made (and which gave a batch), batches taken from the current one,
        and the random states at its moments and now (``saved``: the loader's own generators)."""
        rng = dict(self._rng, saved=rng_snapshot(self._generators))
        history = "".join("1" if started else "0" for started in self._history)
        return {"iterators": self.iterators, "consumed": self.consumed, "rng": rng, "history": history}

    def advance(self, batches: int):
        self.consumed += batches

    def resume(self, iterators: int, consumed: int, step_in_epoch: int, rng: dict | None = None, history=None):
        """Arranges for this fit's first iterator to continue where a saved run was.

        `rng`: the random states at its ``created`` and ``started`` moments
        (`position()["rng"]`), and `history` (`position()["history"]`), None
        for a checkpoint that has none.
        """
        history = [c == "1" for c in history] if isinstance(history, str) and len(history) == iterators else None
        self._pending = (int(iterators), int(consumed), rng or {}, history)
        if step_in_epoch > 0 or consumed > 0:
            internal_keras.skip_consumed_batches(self.epoch_iterator, int(step_in_epoch), int(consumed))

    def new_iterator(self, source):
        """The iterator `fit` takes an epoch's batches from; the first one of a resumed fit is put back."""
        if self._pending is None:
            self.iterators += 1
            self.consumed = 0
            self._rng = {"created": rng_snapshot(self._generators), "started": None}
            self._history.append(False)
            return self._watched(iter(source))
        iterators, consumed, rng, history = self._pending
        self._pending = None
        replayable = self.exact()
        now = rng_snapshot()  # the global states the checkpoint holds (restored in on_train_begin)
        created, started, saved = rng.get("created"), rng.get("started"), rng.get("saved")
        # Keras makes the next epoch's iterator when an epoch ends and, without steps_per_epoch, drops it
        # unused at the next epoch's start: an epoch-end position's iterator is then replayed as dropped too.
        dropped = iterators - 1
        if consumed == 0 and created is not None and self.epoch_iterator.steps_per_epoch is None:
            dropped = iterators
        for i in range(dropped):
            if i == iterators - 1:
                set_rng_snapshot(created, self._generators)
            made = iter(self._make_source())  # made and dropped, as the saved run did
            if history[i] if history is not None else replayable:
                # A lazy iterator (Keras reads tf.data through a generator on JAX and PyTorch)
                # draws its reshuffle at its first batch only: taken if the saved run took one.
                next(made, None)
        self._history = list(history[:dropped]) if history is not None else [True] * dropped
        if dropped == iterators:
            if saved is not None:
                set_rng_snapshot(saved, self._generators)
            set_rng_snapshot(now)
            self.iterators, self.consumed = iterators, 0
            return self.new_iterator(source)
        if created is not None:
            set_rng_snapshot(created, self._generators)
        else:
            created = rng_snapshot(self._generators)
        iterator = iter(source)
        if consumed > 0 and started is not None:
            set_rng_snapshot(started, self._generators)
        for _ in range(consumed):
            next(iterator)
        set_rng_snapshot(now)  # the loader's own generators stay where replaying left them, as in the saved run
        self.iterators, self.consumed = max(iterators, 1), consumed
        self._rng = {"created": created, "started": started}
        self._history.append(consumed > 0)
        if consumed > 0:
            return iterator
        return self._watched(iterator)

    def _watched(self, iterator):
        """`iterator`, recording the random states just before its first batch is taken."""
        self._rng["started"] = rng_snapshot(self._generators)
        self._history[-1] = True
        yield from iterator
