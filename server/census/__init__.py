"""The school census: bulk loads of census extracts (UPN → ULN) and the schools' export."""
