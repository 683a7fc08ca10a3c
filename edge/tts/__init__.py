"""Speech synthesis stage."""
