"""The SOAP 1.1 transport: envelopes, faults, the published contract and operation dispatch."""
