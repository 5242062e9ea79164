"""Media in and out: numpy arrays at the boundary, no torch."""
