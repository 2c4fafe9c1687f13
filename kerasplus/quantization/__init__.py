"""kerasplus.quantization: its components arrive with issue 6; this namespace exists so imports are stable."""
