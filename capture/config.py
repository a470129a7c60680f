"""The run configuration and the parsers that build it from user input.

Every parser raises UsageError with a one-line message; nothing here does I/O except
reading a --targets or --data @file the user named.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from capture.errors import UsageError
from capture.safe import regular_or_missing

if TYPE_CHECKING:
    from capture.verdict.rules import Rules

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_QUEUE_BYTES",
    "RunConfig",
    "StatusSpec",
    "Target",
    "load_targets",
    "parse_body",
    "parse_duration",
    "parse_header",
    "parse_queue_size",
    "parse_size",
    "parse_url",
]

DEFAULT_DB = "capture.db"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# The records waiting for the writer, in bytes (--max-queue): below 1 MiB a handful of
# 64 KiB failures fill it; above 16 GiB it no longer bounds anything on a usual machine.
DEFAULT_MAX_QUEUE_BYTES = 64 * 1024**2
_QUEUE_BYTES_RANGE = (1024**2, 16 * 1024**3)
# A total deadline per request by default, as hey (20 s), vegeta (30 s) and k6 (60 s)
# have: without one, a body that never ends holds its worker, and a -n run, forever.
DEFAULT_MAX_TIME_S = 60.0
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_DURATION_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNIT = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 token (header names)
# Never meant in a URL or a header value (RFC 9110 5.5), and unsafe to print later.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_TAB_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A DNS label once IDNA-encoded (RFC 1123 2.1); '_' is not in the RFC but is common in
# container and service names, and resolvers accept it.
_HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")

# The sane range of every number a user types (README "Input checking"): outside it a
# value is a typo, and far outside it a float overflows a wait or an int a SQLite column.
MIN_DURATION_S = 0.001
MAX_DURATION_S = 30 * 24 * 3600.0  # 720h
MAX_SIZE_BYTES = 512 * 1024**2  # well under SQLite's 1e9-byte limit on one value
MAX_COUNT = 10**12  # --requests, --stop-after-failures
MAX_CONNECTIONS = 10_000  # --connections, --workers: each holds a thread or a socket
MAX_PROCS = 1024
MIN_QPS, MAX_QPS = 0.001, 1_000_000.0
MAX_ROW_ID = 2**63 - 1  # SQLite's largest integer: ids, --limit, --offset, --session


def parse_duration(text: str, *, option: str = "duration") -> float:
    """Turn '30s', '500ms', '5m', '1h' or a bare number of seconds into seconds (> 0)."""
    m = _DURATION_RE.match(text)
    if not m:
        raise UsageError(f"{option}: {text!r} is not a duration (use e.g. 500ms, 30s, 5m, 1h)")
    unit = m.group(2).lower() if m.group(2) else None
    seconds = float(m.group(1)) * _DURATION_UNIT_S[unit]
    if seconds <= 0:
        raise UsageError(f"{option}: {text!r} must be greater than zero")
    check_duration(seconds, option=f"{option}: {text!r}")
    return seconds


def check_duration(seconds: float, *, option: str) -> None:
    """Refuses a duration outside MIN_DURATION_S..MAX_DURATION_S (1ms..720h)."""
    if not MIN_DURATION_S <= seconds <= MAX_DURATION_S:  # False for nan too
        raise UsageError(f"{option} must be between 1ms and 720h")


def check_range(value: float, lo: float, hi: float, *, option: str) -> None:
    """Refuses a number outside lo..hi (nan included) with a one-line usage error."""
    if not lo <= value <= hi:
        raise UsageError(f"{option} must be between {lo:g} and {hi:g}, not {value:g}")


def parse_size(text: str, *, option: str = "size", limit: int = MAX_SIZE_BYTES) -> int:
    """Turn '65536', '64k', '64KiB' or '1MB' into bytes (binary multiples), up to limit."""
    m = _SIZE_RE.match(text)
    if not m:
        raise UsageError(f"{option}: {text!r} is not a size (use e.g. 65536, 64k, 1MiB)")
    unit = (m.group(2) or "").lower()[:1]
    digits = m.group(1).lstrip("0") or "0"
    # Compared before int(): a 5000-digit number is a ValueError in int() itself.
    if len(digits) > 12 or int(digits) * _SIZE_UNIT[unit] > limit:
        raise UsageError(f"{option}: {text!r} is larger than the limit of {_size_text(limit)}")
    return int(digits) * _SIZE_UNIT[unit]


def _size_text(size: int) -> str:
    """Write a whole number of KiB, MiB or GiB the way parse_size reads it."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size} bytes"


def parse_queue_size(text: str, *, option: str = "--max-queue") -> int:
    """Turn --max-queue's '64MiB' into bytes, between 1 MiB and 16 GiB."""
    size = parse_size(text, option=option, limit=_QUEUE_BYTES_RANGE[1])
    _check_queue_bytes(size, option)
    return size


def _check_queue_bytes(size: int, option: str = "--max-queue") -> None:
    low, high = _QUEUE_BYTES_RANGE
    if not low <= size <= high:
        raise UsageError(f"{option} must be between 1MiB and 16GiB, not {size} bytes")


@dataclass(frozen=True, slots=True)
class StatusSpec:
    """A set of HTTP status codes such as '5xx', '503', '500-504' or '4xx,429'."""

    ranges: tuple[tuple[int, int], ...]
    text: str

    @classmethod
    def parse(cls, text: str, *, option: str = "status") -> StatusSpec:
        """Parse a comma list of '5xx', '503' and '500-504' items."""
        ranges: list[tuple[int, int]] = []
        for raw in text.split(","):
            item = raw.strip().lower()
            if re.fullmatch(r"[1-5]xx", item):
                lo = int(item[0]) * 100
                ranges.append((lo, lo + 99))
            elif re.fullmatch(r"\d{3}", item):
                ranges.append((int(item), int(item)))
            elif m := re.fullmatch(r"(\d{3})\s*-\s*(\d{3})", item):
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo > hi:
                    raise UsageError(f"{option}: range {item!r} runs backwards")
                ranges.append((lo, hi))
            else:
                raise UsageError(
                    f"{option}: {raw.strip()!r} is not a status (use e.g. 5xx, 503, 500-504)"
                )
        for lo, hi in ranges:
            if lo < 100 or hi > 599:
                raise UsageError(f"{option}: {text!r} is outside the HTTP range 100-599")
        return cls(tuple(ranges), text)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and any(lo <= code <= hi for lo, hi in self.ranges)

    def lookup_table(self) -> tuple[bool, ...]:
        """Returns a 1000-entry table, so the hot path tests membership by index."""
        return tuple(code in self for code in range(1000))


DEFAULT_FAIL_STATUS = StatusSpec(((400, 599),), ">=400")


def parse_url(text: str) -> str:
    """Check that text is an absolute http(s) URL with a host and a valid port."""
    url = text.strip()
    if not url:
        raise UsageError("URL is empty")
    if any(c.isspace() for c in url):
        raise UsageError(f"URL {text!r}: contains white space")
    if _CONTROL_RE.search(url):
        raise UsageError(f"URL {text!r}: contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"URL {text!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"URL {text!r}: only http:// and https:// are supported")
    if "@" in parts.netloc:
        # Every request row stores its URL, so credentials in it would be kept as typed;
        # a header is redacted (docs/schema.md).
        raise UsageError(
            f"URL {_without_userinfo(parts.netloc, url)!r}: credentials in the URL would be "
            "stored as typed; send them in a header, e.g. -H 'Authorization: Basic ...'"
        )
    if not parts.hostname:
        raise UsageError(f"URL {text!r}: no host name")
    _check_host(parts.hostname, text)
    if port == 0:
        raise UsageError(f"URL {text!r}: port 0 is not a port one can connect to")
    return url


def _check_host(host: str, text: str) -> None:
    """Refuses a host that is neither an IP literal nor a name of IDNA/RFC 1123 labels."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UsageError(f"URL {text!r}: {host!r} is not a valid host name") from None
    labels = ascii_host.removesuffix(".").split(".")  # 'example.com.' is a full name
    if len(ascii_host) > 253 or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise UsageError(f"URL {text!r}: {host!r} is not a valid host name")


def _without_userinfo(netloc: str, url: str) -> str:
    """Returns url with the user:password@ part of its netloc shown as '***@'."""
    return url.replace(netloc, "***@" + netloc.rpartition("@")[2], 1)


def parse_header(text: str) -> tuple[str, str]:
    """Split 'Name: value' into a (name, value) pair."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"header {text!r}: expected 'Name: value'")
    if not _TOKEN_RE.match(name):
        raise UsageError(f"header {text!r}: {name!r} is not a valid header name")
    return check_header(name, value)


def check_header(name: str, value: str) -> tuple[str, str]:
    """Checks a header given as a pair: name an RFC 9110 token, value without CR/LF/NUL."""
    name = name.strip()
    if not _TOKEN_RE.match(name):
        raise UsageError(f"header {name!r} is not a valid header name (RFC 9110 token)")
    value = value.strip()
    if "\r" in value or "\n" in value:
        raise UsageError(f"header {name!r}: the value contains a line break")
    if _CONTROL_BUT_TAB_RE.search(value):
        raise UsageError(f"header {name!r}: the value contains control characters")
    return name, value


def parse_body(text: str | None) -> bytes | None:
    """Turn --data TEXT or --data @file into the body bytes."""
    if text is None:
        return None
    if text.startswith("@"):
        return _read_file(Path(text[1:]), what="body file")
    return text.encode()


def _read_file(path: Path, *, what: str) -> bytes:
    """Reads a file the user named; a FIFO, a device or a socket is refused unopened."""
    try:
        if regular_or_missing(path, what=what) is None:
            raise FileNotFoundError(path)
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {str(path)!r} is a directory") from None
    except OSError as exc:
        raise UsageError(f"{what} {str(path)!r}: {exc.strerror}") from None


def _parse_method(text: str, *, where: str = "method") -> str:
    method = text.strip().upper()
    if method not in HTTP_METHODS:
        raise UsageError(f"{where}: {text!r} is not an HTTP method")
    return method


@dataclass(frozen=True, slots=True)
class Target:
    """One request to send: method, URL, headers in order, and an optional body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> Target:
        """Validates method and URL, and returns the target."""
        return cls(_parse_method(method), parse_url(url), tuple(headers), body)


def load_targets(path: Path) -> tuple[Target, ...]:
    """Read a targets file: vegeta's http format, or JSON lines when it starts with '{'."""
    raw = _read_file(path, what="targets file")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise UsageError(f"targets file {str(path)!r} is not UTF-8 text") from None
    lines = (line.strip() for line in text.splitlines())
    first = next((line for line in lines if line and not line.startswith("#")), "")
    targets = (
        _targets_from_jsonl(text, path) if first.startswith("{") else _targets_from_http(text, path)
    )
    if not targets:
        raise UsageError(f"targets file {str(path)!r} has no targets")
    return targets


def _targets_from_jsonl(text: str, path: Path) -> tuple[Target, ...]:
    targets = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc.msg})") from None
        except RecursionError:
            raise UsageError(f"{where}: JSON nested too deep") from None
        try:
            targets.append(_json_target(obj))
        except UsageError as exc:
            raise UsageError(f"{where}: {exc.message}") from None
    return tuple(targets)


def _json_target(obj: object) -> Target:
    """Builds a target from one parsed JSON line: {"method", "url", "headers", "body"}."""
    if not isinstance(obj, dict) or not isinstance(obj.get("url"), str):
        raise UsageError('expected an object with a "url" string')
    method, body = obj.get("method", "GET"), obj.get("body")
    if not isinstance(method, str):
        raise UsageError('"method" must be a string')
    if body is not None and not isinstance(body, str):
        raise UsageError('"body" must be a string')
    headers = obj.get("headers") or {}
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and all(isinstance(part, str) for part in pair)
        for pair in pairs
    ):
        raise UsageError('"headers" must map names to strings, or be a list of [name, value]')
    parsed = tuple(check_header(name, value) for name, value in pairs)
    return Target.build(method, obj["url"], parsed, None if body is None else body.encode())


def _targets_from_http(text: str, path: Path) -> tuple[Target, ...]:
    """Parse vegeta's format: 'METHOD URL', then 'Name: value' lines, then '@body'."""
    targets: list[Target] = []
    block: list[tuple[int, str]] = []
    for lineno, line in [*enumerate(text.splitlines(), 1), (0, "")]:
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if stripped:
            block.append((lineno, stripped))
            continue
        if block:
            targets.append(_http_block(block, path))
            block = []
    return tuple(targets)


def _http_block(block: list[tuple[int, str]], path: Path) -> Target:
    where, request_line = block[0]
    method, _, url = request_line.replace("\t", " ").partition(" ")
    try:
        if not url.strip():
            raise UsageError(f"{method!r} has no URL (expected 'METHOD URL')")
        headers: list[tuple[str, str]] = []
        body = None
        for lineno, line in block[1:]:
            where = lineno
            if line.startswith("@"):
                body_path = Path(line[1:])
                if not body_path.is_absolute():
                    body_path = path.parent / body_path
                body = _read_file(body_path, what="body file")
            else:
                headers.append(parse_header(line))
        where = block[0][0]
        return Target.build(method, url.strip(), headers, body)
    except UsageError as exc:
        raise UsageError(f"{path}:{where}: {exc.message}") from None


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs to know; built once by the CLI or the API, then read-only."""

    targets: tuple[Target, ...]
    requests: int | None = None
    duration_s: float | None = None
    connections: int = 10
    workers: int | None = None  # None: one worker per connection
    qps: float | None = None
    timeout_s: float = 10.0
    max_time_s: float | None = DEFAULT_MAX_TIME_S
    fail_status: StatusSpec = DEFAULT_FAIL_STATUS
    slow_s: float | None = None
    stop_after_failures: int | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES  # records waiting for the writer
    id_header: str | None = None
    trust_env: bool = False
    follow_redirects: bool = False
    insecure: bool = False
    keep_cookies: bool = False
    keep_secrets: bool = False
    grace_s: float = 5.0
    # Built-in rules on the response (capture.rules): regexes and JSON checks as typed.
    fail_if_body: tuple[str, ...] = ()
    expect_body: tuple[str, ...] = ()
    expect_header: tuple[str, ...] = ()
    fail_if_json: tuple[str, ...] = ()
    procs: int = 1  # processes, each with its own pool of `connections` and its workers
    pin_cpu: bool = True  # each process on one core: threads of one GIL gain nothing from two
    hooks_spec: str | None = None  # --hooks as given: each process of --procs loads it
    name: str | None = None
    command_line: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The run's HMAC key for redacted values (redact.Redactor): never stored or printed.
    redaction_key: bytes = field(default_factory=lambda: os.urandom(16), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.targets:
            raise UsageError("no target: give a URL or --targets FILE")
        if self.requests is None and self.duration_s is None:
            raise UsageError("say how long to run: -n/--requests COUNT and/or -d/--duration")
        _positive(self.requests, "--requests", MAX_COUNT)
        _positive(self.connections, "--connections", MAX_CONNECTIONS)
        _positive(self.workers, "--workers", MAX_CONNECTIONS)
        _positive(self.stop_after_failures, "--stop-after-failures", MAX_COUNT)
        for value, option in ((self.qps, "--qps"), (self.duration_s, "--duration")):
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise UsageError(f"{option} must be greater than zero")
        if self.qps is not None:
            check_range(self.qps, MIN_QPS, MAX_QPS, option="--qps")
        self._check_durations()
        if not 0 <= self.max_body_bytes <= MAX_SIZE_BYTES:
            raise UsageError("--max-body must be between 0 and 512MiB")
        if self.id_header is not None and not _TOKEN_RE.match(self.id_header):
            raise UsageError(f"--id-header {self.id_header!r} is not a valid header name")
        _positive(self.procs, "--procs", MAX_PROCS)
        _check_queue_bytes(self.max_queue_bytes)
        self.rules()  # compiles every rule once, so a bad regex fails before anything runs

    def _check_durations(self) -> None:
        """Refuses a duration outside 1ms..720h, for callers that skip parse_duration."""
        for seconds, option in (
            (self.duration_s, "--duration"),
            (self.timeout_s, "--timeout"),
            (self.max_time_s, "--max-time"),
            (self.slow_s, "--slow"),
            (self.grace_s, "--grace"),
        ):
            if seconds is not None:
                check_duration(seconds, option=option)

    def rules(self) -> Rules:
        """Returns the built-in response rules, compiled."""
        from capture.verdict.rules import Rules

        return Rules.build(
            fail_if_body=list(self.fail_if_body),
            expect_body=list(self.expect_body),
            expect_header=list(self.expect_header),
            fail_if_json=list(self.fail_if_json),
        )

    @property
    def worker_count(self) -> int:
        """Returns the number of worker threads (defaults to one per connection)."""
        return self.workers if self.workers is not None else self.connections

    def to_json(self, redact: Any, redact_url: Any = None) -> str:
        """Returns the configuration as JSON, header values passed through redact(name, v)
        and URLs through redact_url(url)."""
        data = asdict(self)
        del data["redaction_key"]
        data["fail_status"] = self.fail_status.text
        data["targets"] = [
            {
                "method": t.method,
                "url": t.url if redact_url is None else redact_url(t.url),
                "headers": [[k, redact(k, v)] for k, v in t.headers],
                "body_bytes": None if t.body is None else len(t.body),
            }
            for t in self.targets
        ]
        return json.dumps(data, sort_keys=True)


def _positive(value: int | None, option: str, maximum: int) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{option} must be greater than zero")
    if value is not None and value > maximum:
        raise UsageError(f"{option} must be at most {maximum}")
