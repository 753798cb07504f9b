"""Good and bad Kafka message values for the bad-input property test, each with what the decoder
must make of it.

Good records are the real shapes of tests/ingest/istio_lines.py (Istio's default access log, bare,
in Fluent Bit's record, or merged into it) and Edgewatch's own record, with a fresh request id,
keys in any order, any JSON whitespace and an unknown key holding any JSON value. Bad records are
those shapes broken (invalid UTF-8, cut short, a required field of the wrong type, huge or
negative, NaN/Infinity literals, nested too deep) or valid JSON of the wrong shape.

A ``Line`` says which request ids must land, how many records must be dead letters, and how many
may be either (exactly one of the two): an unknown key nested 65 to 3,000 deep, say, which the
engine's JSON parser may or may not accept.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.api.records import call
from tests.ingest import istio_lines as istio

_ids = itertools.count(1)


def fresh_id(kind: str) -> str:
    """A request id unique in the run, of a fixed length: what is drawn must not depend on how
    many ids came before (hypothesis replays a case and expects the same draws)."""
    return f"{kind}-{next(_ids) % 10**9:09d}"

REASONS = ("invalid JSON", "not a JSON object", "unknown record format", "missing required field: ",
           "timestamp: ", "start_time: ", "response_code: ", "duration_ms: ", "duration: ",
           "destination_service: ", "destination_kind: ", "reporter: ", "grpc_status: ")
"""How every dead letter's reason starts (docs/records.md, "Why a record is dead-lettered")."""


@dataclass(frozen=True)
class Line:
    payload: bytes  # one line of a message, no line break in it
    good: tuple[str, ...] = ()  # request ids that must land in `requests`
    bad: int = 0  # records that must be dead letters
    either: int = 0  # records that land or are dead letters, exactly one of the two

    @property
    def records(self) -> int:
        return len(self.good) + self.bad + self.either


def _native(request_id: str) -> dict[str, Any]:
    return call(istio.CALL_START, "productpage", "reviews", 503, 12.5, request_id=request_id)


ENVOY_SHAPES: dict[str, Callable[..., dict[str, Any]]] = {
    "outbound": istio.outbound, "inbound": istio.inbound, "external": istio.external,
    "passthrough": istio.passthrough, "blackhole": istio.blackhole, "no_route": istio.no_route,
    "inbound_passthrough": istio.inbound_passthrough, "ingress": istio.ingress,
}
SHAPES = [*ENVOY_SHAPES, "native"]
REQUIRED = {"native": ("timestamp", "response_code", "duration_ms"),
            "envoy": ("start_time", "response_code", "duration")}
DROP = istio.DROP


def record(shape: str, request_id: str, **changes: Any) -> dict[str, Any]:
    if shape == "native":
        fields = {**_native(request_id), **changes}
        return {key: value for key, value in fields.items() if value is not DROP}
    return ENVOY_SHAPES[shape](request_id=request_id, **changes)


def shipped(line: dict[str, Any], wrapper: str, separators: tuple[str, str]) -> bytes:
    """The record as a shipper sends it: bare, in Fluent Bit's ``log`` string, or merged."""
    if wrapper == "fluent_bit":
        text = json.loads(istio.fluent_bit(line, istio.API_GATEWAY_POD))
    elif wrapper == "merged":
        text = json.loads(istio.merged(line, istio.API_GATEWAY_POD))
    else:
        text = line
    return json.dumps(text, separators=separators, ensure_ascii=False).encode()


# JSON values of every kind; text without lone surrogates (they cannot be UTF-8).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
SEPARATORS = st.sampled_from([(",", ":"), (", ", ": "), (",\t", ":\t"), ("  ,", " : ")])
WRAPPERS = st.sampled_from(["bare", "fluent_bit", "merged"])


@st.composite
def good_lines(draw: st.DrawFn) -> Line:
    """A record that must land, with its request id."""
    shape, request_id = draw(st.sampled_from(SHAPES)), fresh_id("fuzz")
    fields = record(shape, request_id)
    if draw(st.booleans()):
        fields["x_fuzz"] = draw(JSON_VALUES)
    keys = draw(st.permutations(list(fields)))
    line = {key: fields[key] for key in keys}
    return Line(shipped(line, draw(WRAPPERS), draw(SEPARATORS)), good=(request_id,))


BAD_TIMESTAMPS = [True, [], {}, [1], {"t": 1}, "yesterday", "", -5, "1800-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
                  "99999999999999999999", 9999999999999, "2100-01-01T00:00:00Z", "3000-01-01T00:00:00Z", None, DROP]
BAD_CODES = [True, [], {}, [200], "abc", "", -1, 1000, 10**30, -(10**30), 200.5, "NaN", None, DROP]
BAD_DURATIONS = [-1, -0.001, "abc", "", "NaN", "Infinity", "-Infinity", "inf", "1e400", True, [], {}, None, DROP,
                 -(10**30)]
BAD_VALUES = dict(zip(("timestamp", "response_code", "duration"), (BAD_TIMESTAMPS, BAD_CODES, BAD_DURATIONS),
                      strict=True))
NATIVE_ONLY = [("destination_service", ""), ("destination_kind", "pod"), ("reporter", "both"), ("grpc_status", 256),
               ("grpc_status", "x")]


@st.composite
def wrong_fields(draw: st.DrawFn) -> Line:
    """A real shape with one required field wrong: missing, null, of the wrong type, out of range."""
    shape = draw(st.sampled_from(SHAPES))
    if shape == "native" and draw(st.booleans()):
        key, value = draw(st.sampled_from(NATIVE_ONLY))
    else:
        which = draw(st.sampled_from(["timestamp", "response_code", "duration"]))
        key = REQUIRED["native" if shape == "native" else "envoy"][["timestamp", "response_code", "duration"]
                                                                   .index(which)]
        value = draw(st.sampled_from(BAD_VALUES[which]))
    line = record(shape, fresh_id("bad"), **{key: value})
    return Line(shipped(line, draw(WRAPPERS), draw(SEPARATORS)), bad=1)


@st.composite
def broken_lines(draw: st.DrawFn) -> Line:
    """A good record made invalid JSON: invalid UTF-8 in it, cut short, a NaN/Infinity literal."""
    good = draw(good_lines()).payload
    how = draw(st.sampled_from(["utf8", "cut", "nan"]))
    if how == "utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]))
        payload = good.replace(b"GET", b"G" + junk + b"ET", 1)
    elif how == "cut":
        payload = good[:draw(st.integers(1, len(good) - 1))]
    else:
        literal = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"+1", b"0x10", b"01"]))
        payload = good.replace(b"GET", b"GET\", \"x_nan\": " + literal + b", \"y\": \"", 1)
    return Line(payload, bad=1)


def deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def deep_lines(draw: st.DrawFn) -> Line:
    """An unknown key nested deep in a good record; or a deep object that is no record."""
    depth = draw(st.integers(1, 3000))
    if draw(st.booleans()):
        return Line(deep(depth).encode(), bad=1)
    request_id = fresh_id("deep")
    text = json.dumps(record(draw(st.sampled_from(SHAPES)), request_id))
    payload = (text[:-1] + ', "x_deep": ' + deep(depth) + "}").encode()
    return Line(payload, good=(request_id,)) if depth <= 64 else Line(payload, either=1)


# Valid JSON of the wrong shape, as a line: (payload, dead letters).
WRONG_SHAPES = [(b"42", 1), (b'"a string"', 1), (b"null", 1), (b"true", 1), (b"{}", 1), (b'{"foo": 1}', 1),
                (b"[1, 2, 3]", 3), (b"[]", 0), (b"[{}]", 1), (b"[[1]]", 1), (b"[[]]", 1), (b'{"log": "x"}', 1),
                (b'{"log": "{bad"}', 1), (b'{"log": "[1]"}', 1), (b'{"log": 5}', 1), (b'{"log": {"a": 1}}', 1),
                (b'{"log": null}', 1), (b"-0", 1), (b"1e400", 1), (b"NaN", 1), (b'""', 1)]


# As array elements (one record each, whatever they hold); the literals that are no JSON left out,
# as they would make the whole array invalid.
VALID_WRONG_SHAPES = [Line(payload) for payload, _ in WRONG_SHAPES if payload not in {b"1e400", b"NaN"}]


@st.composite
def wrong_shapes(draw: st.DrawFn) -> Line:
    payload, dead = draw(st.sampled_from(WRONG_SHAPES))
    return Line(payload, bad=dead)


@st.composite
def binary_lines(draw: st.DrawFn) -> Line:
    """Bytes that are no JSON at all (no line breaks: the message's lines are drawn apart)."""
    junk = draw(st.binary(max_size=200)).replace(b"\n", b"").replace(b"\r", b"")
    return Line(b"\xff" + junk, bad=1)


@st.composite
def arrays(draw: st.DrawFn) -> Line:
    """A JSON array on one line: every element is a record, good or bad."""
    elements = draw(st.lists(good_lines() | wrong_fields() | st.sampled_from(VALID_WRONG_SHAPES), min_size=1,
                             max_size=6))
    payload = b"[" + b", ".join(e.payload for e in elements) + b"]"
    good = tuple(i for e in elements for i in e.good)
    return Line(payload, good=good, bad=len(elements) - len(good))


BLANK = st.sampled_from([Line(b""), Line(b"   "), Line(b" \t ")])  # dropped, never dead letters
BAD_LINES = wrong_fields() | broken_lines() | deep_lines() | wrong_shapes() | binary_lines() | arrays()
LINES = good_lines() | BAD_LINES | BLANK


@dataclass(frozen=True)
class Message:
    value: bytes
    lines: tuple[Line, ...]

    @property
    def good(self) -> tuple[str, ...]:
        return tuple(i for line in self.lines for i in line.good)

    @property
    def bad(self) -> int:
        return sum(line.bad for line in self.lines)

    @property
    def either(self) -> int:
        return sum(line.either for line in self.lines)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """Newline-delimited lines, good and bad mixed, LF or CRLF, blank lines around. A message of
    several lines that starts with ``[`` and ends with ``]`` would be taken as one JSON array
    (ingest/framing.py): such a message gets a good record at its end."""
    lines = draw(st.lists(LINES, min_size=1, max_size=10))
    body = [line.payload for line in lines]
    stripped = [p for p in body if p.strip()]
    if len(stripped) > 1 and stripped[0].lstrip().startswith(b"[") and stripped[-1].rstrip().endswith(b"]"):
        lines.append(draw(good_lines()))
        body.append(lines[-1].payload)
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    value = draw(st.sampled_from([b"", b"\n", b"  \n"])) + newline.join(body) + draw(st.sampled_from([b"", b"\n"]))
    return Message(value, tuple(lines))
