"""Adapters to outside systems behind the ports of `domain.ports`: sandboxes and HTTP clients."""
