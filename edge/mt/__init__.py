"""Machine translation stage."""
