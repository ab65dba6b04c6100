"""emergency layer."""
