"""Batches: many learners registered, looked up or verified in one job that runs later."""
