"""Core interfaces, metadata keys and the MongoDB store."""
