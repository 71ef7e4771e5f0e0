"""Pack checks: the pack model, Great Expectations, Croissant."""
