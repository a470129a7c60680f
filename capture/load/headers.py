"""A faster http.client.parse_headers for the common case, same result.

http.client hands every response's header block to the email package's feed parser,
which is a third of the CPU time of a small keep-alive exchange (bench/RESULTS.md).
When every line is a plain `Name: value` (the common case), building the message
directly gives the same HTTPMessage; folded lines and a block cut short by the end of
the stream go to the stdlib parser unchanged.

A line that is no header at all (no colon, a space before the colon, a name that is not
a token, an envelope `From ` line) is where the stdlib parser stops: it takes the rest
for the body and loses every later header, Content-Length included, so a response sent
at once then waits for its body until the read timeout, and the user is shown a timeout
for what was a malformed header. Such a block is read here instead: the lines that are
headers are kept (a name's surrounding spaces removed, as RFC 9112 tells a proxy to),
and the lines that are not are listed in the message's `malformed_lines`, which the
verdict turns into a `protocol` failure that keeps the status and every header.

A bare CR inside a value is kept in the value, as the server sent it: the email parser
takes it for a line end, and what follows for the end of the head, which loses every
later header (Content-Length: a 500 sent at once then waits for its body until the
read timeout).

Only capture's own connections use it, through HTTPResponse below (load/pool.py names
it as their response_class): http.client.parse_headers is never replaced, so a program
that imports capture as a library keeps the stdlib parser everywhere else.
"""

from __future__ import annotations

import http.client
import re
import types
from collections.abc import Callable
from typing import Any

__all__ = ["HTTPResponse", "malformed_lines", "parse_headers", "response_malformed"]

# The same limits http.client applies (_MAXLINE, _MAXHEADERS in CPython 3.11-3.13).
_MAX_LINE = 65536
_MAX_HEADERS = 100
_SIMPLE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\n]*\n")  # a bare CR inside is fine
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_MALFORMED = "malformed_lines"  # the attribute of a message that lists them
_stdlib_parse_headers = http.client.parse_headers


def parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    """Reads a header block from fp like http.client.parse_headers and returns it."""
    lines = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    if lines[-1] == b"":  # cut short by the end of the stream
        return _stdlib_parse_lines(lines, _class)
    match = _SIMPLE.fullmatch
    content = lines[:-1]
    if all(match(line) for line in content):
        return _simple_message(content, _class)
    if any(_is_malformed(line) for line in content):
        return _lenient_message(content, _class)
    return _stdlib_parse_lines(lines, _class)  # folded lines


def malformed_lines(msg: Any) -> tuple[str, ...]:
    """Returns the lines of msg's header block that were no header, as sent (latin-1)."""
    return tuple(getattr(msg, _MALFORMED, ()))


def response_malformed(raw: Any) -> tuple[str, ...]:
    """Returns the malformed header lines of a urllib3 response read by parse_headers."""
    original = getattr(raw, "_original_response", None)
    return malformed_lines(getattr(original, "msg", None))


def _is_malformed(line: bytes) -> bool:
    """True for a line that is neither `Name: value` nor the continuation of one."""
    return not (_SIMPLE.fullmatch(line) or line[:1] in (b" ", b"\t"))


class _Message(http.client.HTTPMessage):
    """An HTTPMessage whose get() and items() skip the email policy's per-header call.

    Under the compat32 policy http.client uses, fetching a header returns its value as
    set unless the value holds surrogates; values decoded here from latin-1 never do. So
    the result is the same, without a policy call per header per lookup (http.client and
    urllib3 look up five names and copy every header of every response)."""

    def get(self, name: str, failobj: Any = None) -> Any:
        name = name.lower()
        for key, value in self._headers:  # type: ignore[attr-defined]
            if key.lower() == name:
                return value
        return failobj

    def items(self) -> list[tuple[str, Any]]:
        return list(self._headers)  # type: ignore[attr-defined]


def _new(_class: type[http.client.HTTPMessage]) -> Any:
    """Returns an empty message: the lean one unless a caller asked for its own class."""
    return _Message() if _class is http.client.HTTPMessage else _class()


def _simple_message(lines: list[bytes], _class: type[http.client.HTTPMessage]) -> Any:
    """Returns the message of a block whose every line is `Name: value`."""
    msg = _new(_class)
    for line in lines:
        name, _, value = line.decode("iso-8859-1").partition(":")
        msg.set_raw(name, value.lstrip(" \t").removesuffix("\n").removesuffix("\r"))
    return msg


def _lenient_message(lines: list[bytes], _class: type[http.client.HTTPMessage]) -> Any:
    """Returns the headers of a block with malformed lines, those lines listed apart."""
    pairs: list[list[str]] = []
    bad: list[str] = []
    for raw in lines:
        line = raw.decode("iso-8859-1").removesuffix("\n").removesuffix("\r")
        if line[:1] in (" ", "\t") and pairs:  # obs-fold: one space, as RFC 9112 says
            pairs[-1][1] += " " + line.strip(" \t")
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            bad.append(line)
        if colon and _TOKEN.fullmatch(name.strip(" \t")):
            pairs.append([name.strip(" \t"), value.strip(" \t")])
    msg = _new(_class)
    for name, value in pairs:
        msg.set_raw(name, value)
    setattr(msg, _MALFORMED, tuple(bad))
    return msg


def _stdlib_parse_lines(lines: list[bytes], _class: type[http.client.HTTPMessage]) -> Any:
    import email.parser

    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=_class).parsestr(text)


def _stdlib_begin_with(parse: Callable[..., Any]) -> Callable[[http.client.HTTPResponse], None]:
    """Returns http.client.HTTPResponse.begin, the stdlib's own code, with its global
    name parse_headers bound to parse."""
    # begin() reads the header block through parse_headers, looked up in http.client's
    # module globals: the same code over a copy of those globals changes that one name
    # for this class alone, without patching http.client or copying begin's 60 lines.
    stdlib = http.client.HTTPResponse.begin
    namespace = {**vars(http.client), "parse_headers": parse}
    begin = types.FunctionType(stdlib.__code__, namespace, stdlib.__name__, stdlib.__defaults__)
    begin.__qualname__ = f"HTTPResponse.{stdlib.__name__}"
    return begin


class HTTPResponse(http.client.HTTPResponse):
    """http.client's response whose header block is read by parse_headers."""

    begin = _stdlib_begin_with(parse_headers)
