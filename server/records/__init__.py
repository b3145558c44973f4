"""Learner records: learning events loaded from the data collections (ILR, NPD, AO results)."""
