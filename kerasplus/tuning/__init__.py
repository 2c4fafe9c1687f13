"""Tuning: KerasTuner search that surfaces failures, k-fold cross-validation, search-space helpers, batch-size finder."""

from kerasplus.tuning import spaces
from kerasplus.tuning.batch_size_finder import (
    BatchSizeResult,
    BatchSizeTrial,
    estimated_training_bytes,
    find_batch_size,
    is_out_of_memory,
)
from kerasplus.tuning.cross_validate import cross_validate
from kerasplus.tuning.search import SearchResult, TrialsFailedError, search
from kerasplus.tuning.search_summary import SearchSummary, TrialRecord

__all__ = [
    "BatchSizeResult",
    "BatchSizeTrial",
    "SearchResult",
    "SearchSummary",
    "TrialRecord",
    "TrialsFailedError",
    "cross_validate",
    "estimated_training_bytes",
    "find_batch_size",
    "is_out_of_memory",
    "search",
    "spaces",
]
