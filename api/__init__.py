"""The HTTP API (FastAPI): edge stats, the service graph, drill-down, Grafana endpoints."""
