"""Persistence of the domain: tables, repositories, the unit of work and migrations."""
