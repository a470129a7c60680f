"""Parsers of user input: durations, sizes, status specs, URLs, headers and methods.

Every parser raises UsageError with a one-line message. Pure: no I/O, and nothing of
capture is imported but its errors and redaction, so any layer may use these. A URL is
also prepared the way requests will send it (no network), so whatever the send path
would refuse is refused here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from capture.errors import UsageError
from capture.redact import Redactor

__all__ = [
    "HTTP_METHODS",
    "MAX_CONNECTIONS",
    "MAX_COUNT",
    "MAX_PROCS",
    "MAX_QPS",
    "MAX_ROW_ID",
    "MAX_SIZE_BYTES",
    "MIN_QPS",
    "StatusSpec",
    "check_duration",
    "check_header",
    "check_queue_bytes",
    "check_range",
    "is_token",
    "parse_duration",
    "parse_header",
    "parse_method",
    "parse_queue_size",
    "parse_size",
    "parse_url",
]

# --max-queue in bytes (config.DEFAULT_MAX_QUEUE_BYTES says why these bounds).
_QUEUE_BYTES_RANGE = (1024**2, 16 * 1024**3)
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
    check_queue_bytes(size, option)
    return size


def check_queue_bytes(size: int, option: str = "--max-queue") -> None:
    """Refuses a writer queue size outside 1 MiB..16 GiB."""
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


def parse_url(text: str) -> str:
    """Check that text is an absolute http(s) URL with a host and a valid port."""
    url = text.strip()
    if not url:
        raise UsageError("URL is empty")
    shown = _hidden(text)  # a refused URL is echoed on stderr: its secrets are not
    if any(c.isspace() for c in url):
        raise UsageError(f"URL {shown!r}: contains white space")
    if _CONTROL_RE.search(url):
        raise UsageError(f"URL {shown!r}: contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"URL {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"URL {shown!r}: only http:// and https:// are supported")
    if "@" in parts.netloc:
        # Every request row stores its URL, so credentials in it would be kept as typed;
        # a header is redacted (docs/schema.md).
        raise UsageError(
            f"URL {_without_userinfo(urlsplit(shown).netloc, shown)!r}: credentials in the"
            " URL would be stored as typed; send them in a header,"
            " e.g. -H 'Authorization: Basic ...'"
        )
    if not parts.hostname:
        raise UsageError(f"URL {shown!r}: no host name")
    _check_host(parts.hostname, shown)
    if port == 0:
        raise UsageError(f"URL {shown!r}: port 0 is not a port one can connect to")
    _check_as_sent(url, shown)
    return url


def _hidden(url: str) -> str:
    """Returns url as a message may quote it: the values of its secrets redacted."""
    return Redactor().url(url)


def _check_as_sent(url: str, shown: str) -> None:
    """Refuses a URL that requests would refuse to send, by preparing it as it will."""
    # Python's 'idna' codec is IDNA 2003 and maps U+200B, U+00AD... to nothing; urllib3
    # and requests use the idna package (IDNA 2008), which refuses them. Only the send
    # path's own parser knows exactly what it accepts. No I/O: it only parses.
    from requests.exceptions import RequestException  # lazy: only commands that send
    from requests.models import PreparedRequest

    try:
        PreparedRequest().prepare_url(url, None)
    except (RequestException, ValueError) as exc:  # InvalidURL, LocationParseError...
        # The reason may quote the URL (its secrets too), and the host: ASCII only, as
        # U+200B would print as nothing.
        reason = str(exc).replace(url, shown).encode("ascii", "backslashreplace").decode()
        raise UsageError(f"URL {shown!r}: not a URL that can be sent ({reason})") from None


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
    """Checks a header given as a pair: name an RFC 9110 token, value latin-1 text without
    CR, LF or other control characters."""
    name = name.strip()
    if not _TOKEN_RE.match(name):
        raise UsageError(f"header {name!r} is not a valid header name (RFC 9110 token)")
    value = value.strip()
    if "\r" in value or "\n" in value:
        raise UsageError(f"header {name!r}: the value contains a line break")
    if _CONTROL_BUT_TAB_RE.search(value):
        raise UsageError(f"header {name!r}: the value contains control characters")
    try:
        # http.client sends a str value as latin-1 and reads responses' the same way: '€'
        # could neither be sent (UnicodeEncodeError per request) nor ever match.
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        char = ascii(value[exc.start])
        raise UsageError(
            f"header {name!r}: the value has {char}, outside latin-1, which HTTP/1.1 header"
            " values cannot carry (percent-encode it)"
        ) from None
    return name, value


def parse_method(text: str, *, where: str = "method") -> str:
    """Returns text as an upper-case HTTP method, or refuses it."""
    method = text.strip().upper()
    if method not in HTTP_METHODS:
        raise UsageError(f"{where}: {text!r} is not an HTTP method")
    return method


def is_token(name: str) -> bool:
    """True when name is an RFC 9110 token, as a header name must be."""
    return _TOKEN_RE.match(name) is not None
