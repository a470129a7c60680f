"""Built-in failure rules on the response itself: --fail-if-body, --expect-body,
--expect-header and --fail-if-json. Pure; compiled once per run."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from capture.errors import UsageError
from capture.parse import parse_header
from capture.verdict.kinds import ErrorKind

__all__ = ["JsonCheck", "Rules"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class JsonCheck:
    """PATH=VALUE: fails when the JSON value at PATH equals VALUE; PATH alone: when it
    is present and not null, false, empty or zero (the GraphQL `errors` case)."""

    path: tuple[str, ...]
    value: Any = _MISSING
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> JsonCheck:
        """Parses 'errors', 'status=error', 'data.items.0.ok=false'."""
        path_text, sep, value_text = text.partition("=")
        path = tuple(p for p in path_text.strip().split(".") if p)
        if not path:
            raise UsageError(f"--fail-if-json {text!r}: expected PATH or PATH=VALUE")
        if not sep:
            return cls(path, _MISSING, text)
        try:
            value = json.loads(value_text)
        except ValueError:
            value = value_text  # a bare word is a string
        return cls(path, value, text)

    def fails(self, document: Any) -> bool:
        """Tells whether the parsed JSON document fails this check."""
        node = document
        for key in self.path:
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif (
                isinstance(node, list)
                and key.lstrip("-").isdigit()
                and -len(node) <= int(key) < len(node)
            ):
                node = node[int(key)]
            else:
                return False
        if self.value is _MISSING:
            return node not in (None, False, "", 0, [], {})
        return bool(node == self.value)


@dataclass(frozen=True, slots=True)
class Rules:
    """The compiled rules; check() returns the failure kind, or None."""

    fail_if_body: tuple[re.Pattern[str], ...] = ()
    expect_body: tuple[re.Pattern[str], ...] = ()
    expect_header: tuple[tuple[str, re.Pattern[str]], ...] = ()
    fail_if_json: tuple[JsonCheck, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        fail_if_body: list[str] | None = None,
        expect_body: list[str] | None = None,
        expect_header: list[str] | None = None,
        fail_if_json: list[str] | None = None,
    ) -> Rules:
        """Compiles the rules given on the command line."""
        headers = []
        for text in expect_header or []:
            name, pattern = parse_header(text)
            headers.append((name.lower(), _regex(pattern, "--expect-header")))
        return cls(
            tuple(_regex(p, "--fail-if-body") for p in fail_if_body or []),
            tuple(_regex(p, "--expect-body") for p in expect_body or []),
            tuple(headers),
            tuple(JsonCheck.parse(t) for t in fail_if_json or []),
        )

    @property
    def any(self) -> bool:
        """Tells whether any rule is set."""
        return bool(
            self.fail_if_body or self.expect_body or self.expect_header or self.fail_if_json
        )

    @property
    def needs_body(self) -> bool:
        """Tells whether the rules read the body (so it must be decoded)."""
        return bool(self.fail_if_body or self.expect_body or self.fail_if_json)

    def check(self, headers: Any, body: bytes) -> ErrorKind | None:
        """Returns the failure kind for a response, or None when every rule passes."""
        for name, pattern in self.expect_header:
            value = headers.get(name)
            if value is None or not pattern.search(value):
                return ErrorKind.HEADER_MISMATCH
        if not self.needs_body:
            return None
        text = body.decode("utf-8", "replace")
        if any(p.search(text) for p in self.fail_if_body):
            return ErrorKind.BODY_MATCH
        if any(not p.search(text) for p in self.expect_body):
            return ErrorKind.BODY_MISMATCH
        if self.fail_if_json:
            try:
                document = json.loads(text)
            except ValueError:
                return ErrorKind.JSON_INVALID
            if any(check.fails(document) for check in self.fail_if_json):
                return ErrorKind.JSON_MATCH
        return None


def _regex(pattern: str, option: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"{option} {pattern!r}: not a regular expression ({exc})") from None
