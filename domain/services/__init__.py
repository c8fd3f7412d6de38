"""Use cases. Each opens its own unit of work and commits once."""
