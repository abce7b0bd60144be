"""Maps that read no classifier: the baselines every lens must beat (issue 25)."""
