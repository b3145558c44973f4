"""Administration: the ``miap`` command line, demo data and the synthetic population."""
