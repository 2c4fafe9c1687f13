"""`check_batch_size`: every batch splits over the replicas, or a ValueError with the fix (JAX: test_replica_count)."""

from types import SimpleNamespace

import pytest

from kerasplus.distribute import check_batch_size


def replicas(n):
    return SimpleNamespace(num_replicas_in_sync=n)


def test_returns_the_per_replica_batch():
    assert check_batch_size(64, replicas(8)) == 8
    assert check_batch_size(64, replicas(8), examples=1000) == 8  # last batch: 40, 5 per replica
    assert check_batch_size(7) == 7  # one replica: anything goes


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((30, replicas(8)), {}, r"`batch_size`=30 does not split evenly over the 8 replicas .* \(e\.g\. 24 or 32"),
        ((16, replicas(8)), dict(examples=60), r"`examples`=60 with `batch_size`=16 leaves a last batch of 12"),
        ((3, replicas(4)), {}, r"Use a multiple of 4 \(e\.g\. 4 or 8"),
    ],
)
def test_batches_that_do_not_split_are_refused_with_the_fix(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_batch_size(*args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((0,), {}, ValueError, "`batch_size` must be an integer >= 1"),
        ((8.0,), {}, TypeError, "`batch_size` must be an integer"),
        ((8,), dict(examples=0), ValueError, "`examples` must be an integer >= 1"),
        ((8, "mirrored"), {}, TypeError, "`strategy` must be a tf.distribute.Strategy"),
    ],
)
def test_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_batch_size(*args, **kwargs)
