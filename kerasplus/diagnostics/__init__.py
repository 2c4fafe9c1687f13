"""kerasplus.diagnostics: its components arrive with issue 5; this namespace exists so imports are stable."""
