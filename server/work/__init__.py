"""The durable work queue: everything that runs later (batches, census runs, deliveries)."""
