"""ErrorKind against docs/schema.md: the enum and the documented vocabulary are one list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capture.verdict.kinds import ErrorKind

SCHEMA_MD = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def documented_kinds() -> list[str]:
    """Returns the kinds in the first column of schema.md's error_kind vocabulary table."""
    lines = SCHEMA_MD.read_text(encoding="utf-8").splitlines()
    start = lines.index("### `error_kind` vocabulary")
    kinds: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break  # the next section
        if not line.startswith("| `"):
            continue  # blank line, header row or separator
        first_cell = line.split("|")[1]
        kinds.extend(re.findall(r"`([a-z_]+)`", first_cell))
    return kinds


def test_error_kind_and_schema_md_list_the_same_kinds() -> None:
    # Sorted lists, not sets: a kind documented twice fails too.
    assert sorted(documented_kinds()) == sorted(k.value for k in ErrorKind)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (ErrorKind.BODY_MATCH, "body_match"),
        (ErrorKind.BODY_MISMATCH, "body_mismatch"),
        (ErrorKind.HEADER_MISMATCH, "header_mismatch"),
        (ErrorKind.JSON_MATCH, "json_match"),
        (ErrorKind.JSON_INVALID, "json_invalid"),
        (ErrorKind.HOOK, "hook"),
        (ErrorKind.HOOK_ERROR, "hook_error"),
    ],
)
def test_rule_and_hook_kinds_are_members(member: ErrorKind, value: str) -> None:
    assert member == value
    assert ErrorKind(value) is member
