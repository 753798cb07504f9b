"""Edgewatch: per-request records of a service mesh turned into edge stats and alerts.

This package holds what the three services (``ingest``, ``api``, ``alerts``) share: the
settings, the ClickHouse client factory, the migration runner and the edge-stats queries.
"""

__version__ = "0.1.0"
