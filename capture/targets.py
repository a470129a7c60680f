"""Reading the files a user names for a run: a targets file and a --data @file body.

A FIFO, a device or a socket is refused without being opened (capture.safe); every
problem is a one-line UsageError naming the file and, in a targets file, the line.
"""

from __future__ import annotations

import json
from pathlib import Path

from capture.config import Target
from capture.errors import UsageError
from capture.parse import check_header, parse_header
from capture.safe import regular_or_missing

__all__ = ["load_targets", "parse_body"]


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
