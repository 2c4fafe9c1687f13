"""Diagnostics: curve verdicts, gradient and dead-ReLU probes, learning-curve plots, the training linter."""

from kerasplus.diagnostics.fit_diagnostics import FitDiagnostics
from kerasplus.diagnostics.learning_curves import plot_learning_curves
from kerasplus.diagnostics.linter import RULES, Finding, Rule, lint
from kerasplus.diagnostics.verdicts import VERDICTS, curve_verdict

__all__ = ["RULES", "VERDICTS", "Finding", "FitDiagnostics", "Rule", "curve_verdict", "lint", "plot_learning_curves"]
