"""kerasplus.layers: its components arrive with issue 3; this namespace exists so imports are stable."""
