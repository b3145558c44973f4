"""The portal: providers and learners use the register in a browser, on the same domain code."""
