"""One settings object per process, read from ``EDGEWATCH_*`` environment variables.

``main`` builds it once (``Settings()``) and passes it down; nothing else reads the
environment. Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path(".edgewatch")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``"500ms"``, ``"15s"``, ``"5m"``, ``"1h"``, ``"7d"`` -> seconds. Raises ValueError."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit: 500ms, 30s, 5m, 1h, 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_clickhouse_url(url: str) -> str:
    if not url.startswith(("chdb://", "http://", "https://")):
        raise ValueError(
            f"EDGEWATCH_CLICKHOUSE_URL={url!r}: use chdb://PATH (embedded engine) "
            "or http(s)://user:password@host:port/database (a ClickHouse server)"
        )
    return url


Seconds = Annotated[str, AfterValidator(lambda v: (parse_duration(v), v)[1])]

_INSTANCE_ID = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _check_instance_id(value: str) -> str:
    """Kafka's rule for ``group.instance.id`` (KIP-345), checked at start rather than at the first join."""
    if not _INSTANCE_ID.match(value) or value in {".", ".."}:
        raise ValueError(f"{value!r}: use 1-249 letters, digits, '.', '_' or '-' (not '.' or '..')")
    return value


class Settings(BaseSettings):
    """Edgewatch's configuration. Unknown ``EDGEWATCH_*`` variables are ignored."""

    # An empty variable means "not set": compose passes unset optional values as "".
    model_config = SettingsConfigDict(env_prefix="EDGEWATCH_", extra="ignore", frozen=True, env_ignore_empty=True)

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic: str = "mesh-requests"
    kafka_group: str = "edgewatch-ingest"
    # Static group membership (KIP-345): an ingester restarted under the same id takes its
    # partitions back at once instead of after the dead member's session (45 s). Unset: the
    # host name (ingest/membership.py); set it where host names change on every start.
    kafka_instance_id: Annotated[str, AfterValidator(_check_instance_id)] | None = None

    # ClickHouse: chdb://PATH (embedded, one process per folder) or http(s)://...
    clickhouse_url: Annotated[str, AfterValidator(_check_clickhouse_url)] = (
        f"chdb://{DEFAULT_DATA_DIR / 'clickhouse'}"
    )
    raw_ttl_days: int = Field(default=7, ge=1, le=3650)
    # A server cluster's name in its remote_servers: migrations then create replicated local
    # tables and Distributed tables ON CLUSTER (docs/scaling.md). Unset: one server or chDB.
    clickhouse_cluster: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    # Ingester batching: a batch is flushed at whichever limit comes first. The size limits only
    # bind while catching up (otherwise the wait does): fewer, bigger inserts then leave the
    # engine fewer parts to merge (docs/records.md, "Speed"). Memory: up to 3 batches per
    # writer (one storing, two queued).
    batch_max_records: int = Field(default=250_000, ge=1, le=1_000_000)
    batch_max_bytes: int = Field(default=128 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    batch_max_wait: Seconds = "1s"
    # Parallel inserts; each partition always goes to the same writer, so its order holds.
    ingest_writers: int = Field(default=2, ge=1, le=16)
    # Where `edgewatch ingest` serves /healthz, /readyz and /metrics; no port: no HTTP at all.
    ingest_host: str = "127.0.0.1"
    ingest_port: int | None = Field(default=None, ge=1, le=65535)

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    # Secrets: SecretStr, so that a repr of the settings (a log line, a traceback) shows '**********'.
    api_token: SecretStr | None = None
    admin_token: SecretStr | None = None  # writes (silences, backtests) need it when set
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    public_url: str = "http://127.0.0.1:8080"
    # Edge health (Kiali's defaults), as shares of the requests in the window.
    health_server_degraded_above: float = Field(default=0.001, ge=0, le=1)
    health_server_failing_from: float = Field(default=0.10, ge=0, le=1)
    health_client_degraded_from: float = Field(default=0.10, ge=0, le=1)
    health_client_failing_from: float = Field(default=0.20, ge=0, le=1)

    # The mesh's own ServiceEntry and VirtualService YAML (a file or a folder), docs/mesh-config.md.
    mesh_config: Path | None = None

    # Alerts and notifications
    rules_file: Path | None = None
    eval_interval: Seconds = "15s"
    slack_webhook_url: str | None = None
    slack_bot_token: str | None = None
    slack_channel: str | None = None
    slack_api_url: str | None = None

    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return level

    @model_validator(mode="after")
    def _cluster_needs_a_server(self) -> Settings:
        if self.clickhouse_cluster and self.clickhouse_url.startswith("chdb://"):
            raise ValueError("EDGEWATCH_CLICKHOUSE_CLUSTER needs a server: set EDGEWATCH_CLICKHOUSE_URL to http(s)://...")
        return self

    @property
    def batch_max_wait_seconds(self) -> float:
        return parse_duration(self.batch_max_wait)

    @property
    def eval_interval_seconds(self) -> float:
        return parse_duration(self.eval_interval)
