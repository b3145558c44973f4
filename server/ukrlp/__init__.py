"""The UK Register of Learning Providers: providers, their contacts, status and history."""
