"""A faster http.client.parse_headers for the common case, same result.

http.client hands every response's header block to the email package's feed parser,
which is a third of the CPU time of a small keep-alive exchange (bench/RESULTS.md).
When every line is a plain `Name: value` (the common case), building the message
directly gives the same HTTPMessage; anything unusual (folded lines, a line without a
colon, an envelope `From ` line, non-token names) goes to the stdlib parser unchanged,
so malformed responses are judged exactly as before.

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

__all__ = ["HTTPResponse", "parse_headers"]

# The same limits http.client applies (_MAXLINE, _MAXHEADERS in CPython 3.11-3.13).
_MAX_LINE = 65536
_MAX_HEADERS = 100
_SIMPLE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\n]*\n")  # a bare CR inside is fine
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
    match = _SIMPLE.fullmatch
    if lines[-1] == b"" or not all(match(line) for line in lines[:-1]):
        return _stdlib_parse_lines(lines, _class)
    msg = _class()
    for line in lines[:-1]:
        name, _, value = line.decode("iso-8859-1").partition(":")
        msg.set_raw(name, value.lstrip(" \t").removesuffix("\n").removesuffix("\r"))
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
