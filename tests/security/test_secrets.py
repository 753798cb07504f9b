"""#15 guarantee 8, tokens never appear in logs or error messages: the app served by uvicorn
(access log on, every logger at DEBUG) over the real engine with some traffic in it; requests
refused and accepted, reads and writes, bad parameters, an oversized body; then neither token is
in any response (body or headers), any log record, or the process's stdout and stderr."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from api.app import create_app
from edgewatch.settings import Settings
from tests.api.records import call, ingest_lines
from tests.security.served import serving

pytestmark = pytest.mark.clickhouse

READER, ADMIN = "tok-reader-0a7f31", "tok-admin-e5c902"
OPEN = {"/healthz", "/readyz", "/metrics"}


def test_tokens_are_never_in_logs_or_answers(ch: Client, ch_url: str, caplog: pytest.LogCaptureFixture,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    records = [call(now - timedelta(seconds=20 + i), "web", "api", 500 if i < 2 else 200) for i in range(30)]
    ch.raw_insert("ingest_lines", None, ingest_lines(records), fmt="TSVRaw")
    settings = Settings(clickhouse_url=ch_url, api_token=SecretStr(READER), admin_token=SecretStr(ADMIN),
                        api_max_body_bytes=4096)
    caplog.set_level(logging.DEBUG)
    reader, admin = {"Authorization": f"Bearer {READER}"}, {"Authorization": f"Bearer {ADMIN}"}
    answers: list[httpx.Response] = []
    with serving(create_app(settings, ch)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/readyz").json()["status"] == "ready"  # open, without a token
        paths = http.get("/openapi.json").json()["paths"]
        reads = [re.sub(r"\{[^}]+\}", "api", p) for p, ops in paths.items() if "get" in ops and p not in OPEN]
        for path in reads:
            for headers in ({}, {"Authorization": "Bearer wrong-guess"}, reader, admin):
                answers.append(http.get(path, headers=headers))
                assert answers[-1].status_code in ({401} if headers in ({}, {"Authorization": "Bearer wrong-guess"})
                                                   else {200}), (path, headers, answers[-1].text)
        answers.append(http.get("/api/v1/edges", params={"window": "5x"}, headers=reader))  # 422
        answers.append(http.post("/grafana/query", json={"targets": "nonsense"}, headers=reader))  # 422
        ends = (now + timedelta(hours=1)).isoformat()
        silence = {"destination": "api", "ends_at": ends, "comment": "deploy"}
        answers.append(http.post("/api/v1/silences", json=silence, headers=reader))  # 403
        answers.append(created := http.post("/api/v1/silences", json=silence, headers=admin))
        assert created.status_code == 201
        answers.append(http.delete(f"/api/v1/silences/{created.json()['id']}", headers=reader))  # 403
        answers.append(http.delete(f"/api/v1/silences/{created.json()['id']}", headers=admin))
        assert answers[-1].status_code == 204
        answers.append(http.post("/api/v1/rules/backtest", json={"rule": "no-such-rule", "start": ends, "end": ends},
                                 headers=admin))  # 422
        answers.append(http.post("/api/v1/silences", content=b"x" * 5000, headers=admin))  # 413
    assert {a.status_code for a in answers} >= {200, 201, 204, 401, 403, 413, 422}
    out, err = capfd.readouterr()
    assert '"GET /api/v1/edges HTTP/1.1" 401' in caplog.text  # the access log was captured
    seen = "\n".join([caplog.text, out, err] + [f"{a.headers}\n{a.text}" for a in answers])
    assert READER not in seen and ADMIN not in seen
