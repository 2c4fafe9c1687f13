"""Tuning: k-fold cross-validation and KerasTuner search-space helpers.

`search` (KerasTuner with failure surfacing, resume and distributed runs)
arrives with the rest of the tuning issue.
"""

from kerasplus.tuning import spaces
from kerasplus.tuning.cross_validate import cross_validate

__all__ = ["cross_validate", "spaces"]
