"""Strategy selection (`auto_strategy`, `describe`) and batch/learning-rate scaling for replicas."""

from kerasplus.distribute.auto_strategy import (
    auto_strategy,
    choose,
    describe,
    parse_tf_config,
)
from kerasplus.distribute.multi_worker_fit import fix_multi_worker_fit
from kerasplus.distribute.scale import ReplicaScaling, scale_for_replicas

__all__ = [
    "ReplicaScaling",
    "auto_strategy",
    "choose",
    "describe",
    "fix_multi_worker_fit",
    "parse_tf_config",
    "scale_for_replicas",
]
