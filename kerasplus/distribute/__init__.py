"""Strategy selection (`auto_strategy`, `describe`) and batch/learning-rate scaling for replicas."""

from kerasplus.distribute.auto_strategy import auto_strategy, choose, describe, parse_tf_config

__all__ = ["auto_strategy", "choose", "describe", "parse_tf_config"]
