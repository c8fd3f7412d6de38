"""The campaign dashboard and the operations endpoints (/metrics, /healthz, /readyz)."""
