"""Speech recognition stage."""
