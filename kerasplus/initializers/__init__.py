"""kerasplus.initializers: its components arrive with issue 4; this namespace exists so imports are stable."""
