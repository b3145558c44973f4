"""Learner matching: normalisation, field comparison and the scoring engine."""
