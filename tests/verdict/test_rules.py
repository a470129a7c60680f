"""The built-in response rules: JsonCheck parsing and matching, Rules.check's kinds and order."""

from __future__ import annotations

from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from capture.errors import UsageError
from capture.verdict.kinds import ErrorKind
from capture.verdict.rules import JsonCheck, Rules

PRESENT = JsonCheck.parse("errors").value  # the "no VALUE given" marker


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("errors", ("errors",), PRESENT),
        ("status=error", ("status",), "error"),  # a bare word is a string
        ('status="error"', ("status",), "error"),
        ("data.items.0.ok=false", ("data", "items", "0", "ok"), False),
        ("count=3", ("count",), 3),
        ("x=null", ("x",), None),
        ("x=", ("x",), ""),
        (" a..b =[1]", ("a", "b"), [1]),
    ],
)
def test_json_check_parse(text: str, path: tuple[str, ...], value: Any) -> None:
    check = JsonCheck.parse(text)
    assert (check.path, check.value, check.text) == (path, value, text)


@pytest.mark.parametrize("text", ["", "=x", " . =1"])
def test_json_check_parse_refuses_an_empty_path(text: str) -> None:
    with pytest.raises(UsageError, match="expected PATH or PATH=VALUE"):
        JsonCheck.parse(text)


@pytest.mark.parametrize(
    ("check", "document", "fails"),
    [
        # PATH alone: present and not null, false, empty or zero.
        ("errors", {"errors": [{"message": "boom"}]}, True),
        ("errors", {"errors": "boom"}, True),
        ("errors", {"errors": 1}, True),
        ("errors", {"errors": []}, False),
        ("errors", {"errors": {}}, False),
        ("errors", {"errors": None}, False),
        ("errors", {"errors": False}, False),
        ("errors", {"errors": ""}, False),
        ("errors", {"errors": 0}, False),
        ("errors", {"data": 1}, False),
        ("errors", [1, 2], False),
        ("errors", "errors", False),
        # PATH=VALUE: the value at PATH equals VALUE.
        ("status=error", {"status": "error"}, True),
        ("status=error", {"status": "ok"}, False),
        ("status=error", {}, False),
        ("data.items.0.ok=false", {"data": {"items": [{"ok": False}]}}, True),
        ("data.items.0.ok=false", {"data": {"items": [{"ok": True}]}}, False),
        ("data.items.0.ok=false", {"data": {"items": []}}, False),
        ("items.-1=3", {"items": [1, 2, 3]}, True),  # a negative index counts from the end
        ("items.-4=1", {"items": [1, 2, 3]}, False),  # out of range: not found
        ("items.3=1", {"items": [1, 2, 3]}, False),
        ("items.x=1", {"items": [1, 2, 3]}, False),  # not an index
        ("count=3", {"count": 3.0}, True),
        ("x=null", {"x": None}, True),
        ("x=null", {}, False),  # absent is not null
    ],
)
def test_json_check_fails(check: str, document: Any, fails: bool) -> None:
    assert JsonCheck.parse(check).fails(document) is fails


def _headers(**values: str) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


@pytest.mark.parametrize(
    ("rules", "headers", "body", "kind"),
    [
        (Rules.build(), _headers(), b"anything", None),
        # --expect-header: missing or not matching; names are case-insensitive.
        (Rules.build(expect_header=["X-Ok: yes"]), _headers(), b"", ErrorKind.HEADER_MISMATCH),
        (
            Rules.build(expect_header=["X-Ok: ^y"]),
            _headers(x_ok="no"),
            b"",
            ErrorKind.HEADER_MISMATCH,
        ),
        (Rules.build(expect_header=["x-ok: ^y"]), _headers(X_OK="yes"), b"", None),
        # --fail-if-body, --expect-body.
        (Rules.build(fail_if_body=["error"]), _headers(), b"an error", ErrorKind.BODY_MATCH),
        (Rules.build(fail_if_body=["error"]), _headers(), b"fine", None),
        (Rules.build(expect_body=["^ok"]), _headers(), b"not ok", ErrorKind.BODY_MISMATCH),
        (Rules.build(expect_body=["^ok", "done$"]), _headers(), b"ok, done", None),
        (
            Rules.build(expect_body=["^ok", "done$"]),
            _headers(),
            b"ok, not yet",
            ErrorKind.BODY_MISMATCH,
        ),
        (
            Rules.build(fail_if_body=["\ufffd"]),
            _headers(),
            b"\xff",
            ErrorKind.BODY_MATCH,
        ),  # not UTF-8
        # --fail-if-json.
        (
            Rules.build(fail_if_json=["errors"]),
            _headers(),
            b'{"errors": [1]}',
            ErrorKind.JSON_MATCH,
        ),
        (Rules.build(fail_if_json=["errors"]), _headers(), b'{"data": 1}', None),
        (Rules.build(fail_if_json=["errors"]), _headers(), b"<html>", ErrorKind.JSON_INVALID),
        (Rules.build(fail_if_json=["errors"]), _headers(), b"", ErrorKind.JSON_INVALID),
        (Rules.build(fail_if_json=["a=1", "b=2"]), _headers(), b'{"b": 2}', ErrorKind.JSON_MATCH),
        # The order: headers, then --fail-if-body, then --expect-body, then JSON.
        (
            Rules.build(expect_header=["X-Ok: yes"], fail_if_body=["e"], fail_if_json=["e"]),
            _headers(),
            b"e",
            ErrorKind.HEADER_MISMATCH,
        ),
        (
            Rules.build(fail_if_body=["e"], expect_body=["^ok"], fail_if_json=["e"]),
            _headers(),
            b"e",
            ErrorKind.BODY_MATCH,
        ),
        (
            Rules.build(expect_body=["^ok"], fail_if_json=["e"]),
            _headers(),
            b"e",
            ErrorKind.BODY_MISMATCH,
        ),
        (
            Rules.build(expect_body=["e"], fail_if_json=["e"]),
            _headers(),
            b'{"e": true}',
            ErrorKind.JSON_MATCH,
        ),
    ],
)
def test_rules_check(
    rules: Rules, headers: CaseInsensitiveDict[str], body: bytes, kind: ErrorKind | None
) -> None:
    found = rules.check(headers, body)
    assert (found, found is not None) == (kind, kind is not None)
    assert found is kind  # a member of the vocabulary, not a bare string


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fail_if_body": ["("]}, "--fail-if-body '\\(': not a regular expression"),
        ({"expect_body": ["["]}, "--expect-body '\\[': not a regular expression"),
        ({"expect_header": ["X-Ok: ("]}, "--expect-header '\\(': not a regular expression"),
        ({"fail_if_json": ["="]}, "--fail-if-json '=': expected PATH"),
    ],
)
def test_rules_build_refuses_bad_options(options: dict[str, list[str]], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Rules.build(**options)
