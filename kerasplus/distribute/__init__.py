"""Strategy / distribution selection (`auto_strategy`, `auto_distribution`, `describe`) and batch/learning-rate
scaling for replicas."""

from kerasplus.distribute.auto_distribution import auto_distribution
from kerasplus.distribute.auto_strategy import (
    auto_strategy,
    choose,
    describe,
    parse_tf_config,
)
from kerasplus.distribute.check_batch_size import check_batch_size
from kerasplus.distribute.multi_worker_fit import fix_multi_worker_fit
from kerasplus.distribute.replica_count import replica_count
from kerasplus.distribute.scale import ReplicaScaling, scale_for_replicas

__all__ = [
    "ReplicaScaling",
    "auto_distribution",
    "auto_strategy",
    "check_batch_size",
    "choose",
    "describe",
    "fix_multi_worker_fit",
    "parse_tf_config",
    "replica_count",
    "scale_for_replicas",
]
