"""change layer."""
