"""kerasplus.distribute: its components arrive with issue 7; this namespace exists so imports are stable."""
