"""Diagnostics: curve verdicts, gradient and dead-ReLU probes, learning-curve plots, the training linter."""

from kerasplus.diagnostics.curve_verdict import VERDICTS, curve_verdict
from kerasplus.diagnostics.fit_diagnostics import FitDiagnostics

__all__ = ["VERDICTS", "FitDiagnostics", "curve_verdict"]
