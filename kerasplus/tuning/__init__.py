"""Tuning: KerasTuner search that surfaces failures, k-fold cross-validation, search-space helpers."""

from kerasplus.tuning import spaces
from kerasplus.tuning.cross_validate import cross_validate
from kerasplus.tuning.search import SearchResult, TrialsFailedError, search
from kerasplus.tuning.search_summary import SearchSummary, TrialRecord

__all__ = ["SearchResult", "SearchSummary", "TrialRecord", "TrialsFailedError", "cross_validate", "search", "spaces"]
