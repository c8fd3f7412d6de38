"""Front ends and wiring: settings, assembly, command line, framework adapters."""
