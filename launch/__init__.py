"""The composition root: the ``edgewatch`` command builds each process from the rooms below.

``cli`` parses the command line and builds the settings once; ``database`` opens ClickHouse
and applies the migrations, once per process, and hands out clients; ``components`` wraps the
ingester, the settler, the alert scheduler and the API server in one start/stop contract;
``lifecycle`` starts them in order and stops them in reverse order on SIGINT/SIGTERM or when
one fails; ``up`` runs all four in one process. Nothing imports ``launch``: the shared core
(``edgewatch/``) and the rooms (``ingest/``, ``api/``, ``alerts/``, ``simulator/``) stay
below it.
"""
