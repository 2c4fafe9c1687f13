"""kerasplus.data: its components arrive with issue 8; this namespace exists so imports are stable."""
