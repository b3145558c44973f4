"""Analysts' aggregate queries over the register and learning records, with disclosure control."""
