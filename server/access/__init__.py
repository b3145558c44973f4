"""The one access policy every route asks before it reads or changes a learner's data."""
