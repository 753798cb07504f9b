"""Reading ``dead_letters``: how many records were refused, per kind of reason and time step.

A dead letter's ``reason`` names the rule that refused the record and often the value it got
(``response_code: expected an integer 0-999, got abc``, migration 0001); the value makes every
reason unique, so they are counted by their kind, the reason up to ``, got``
(``response_code: expected an integer 0-999``). The table keeps 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from edgewatch.calls import epoch_ms, from_epoch
from edgewatch.windows import TimeRange

REASON_KIND = "splitByString(', got ', reason)[1]"
"""SQL: the kind of a dead letter's reason (the reason without the value it got)."""


@dataclass(frozen=True)
class DeadLetterCount:
    """``count`` records refused for ``reason`` (a kind) in the step starting at ``t``."""

    t: datetime
    reason: str
    count: int


def dead_letter_counts(client: Client, span: TimeRange, step: int) -> list[DeadLetterCount]:
    """Records refused in ``span`` per ``step`` seconds (steps start at multiples of ``step``
    since the epoch) and reason kind, by time then reason; only steps with refusals. One query
    over the table's time-ordered key. Raises ValueError for a step under a second, and
    clickhouse_connect's errors."""
    if step < 1:
        raise ValueError(f"step {step}: use a whole number of seconds, at least 1")
    rows = client.query(
        f"""SELECT intDiv(toUnixTimestamp(received_at), {{step:UInt32}}) * {{step:UInt32}} AS t,
                   {REASON_KIND} AS kind, count()
            FROM dead_letters
            WHERE received_at >= fromUnixTimestamp64Milli({{a_ms:Int64}}, 'UTC')
              AND received_at < fromUnixTimestamp64Milli({{b_ms:Int64}}, 'UTC')
            GROUP BY t, kind
            ORDER BY t, kind""",
        parameters={"step": step, "a_ms": epoch_ms(span.start), "b_ms": epoch_ms(span.end)},
    ).result_rows
    return [DeadLetterCount(from_epoch(int(t)), kind, int(n)) for t, kind, n in rows]
