"""Parsers of user input: durations, sizes, status specs, headers, URLs, targets files."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.config import RunConfig, Target
from capture.errors import UsageError
from capture.parse import StatusSpec, parse_duration, parse_header, parse_size, parse_url
from capture.targets import load_targets, parse_body
from tests.conftest import query


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0), ("2", 2.0), ("1.5s", 1.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 parsecs", "", "-1s", "0s", "s", "1d", "nan"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [("65536", 65536), ("64k", 65536), ("64KiB", 65536), ("1MB", 1 << 20)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        ("5xx", [500, 503, 599], [499, 200]),
        ("503", [503], [500, 504]),
        ("500-504", [500, 502, 504], [499, 505]),
        ("4xx,503", [404, 429, 503], [500, 200]),
    ],
)
def test_status_spec(spec: str, inside: list[int], outside: list[int]) -> None:
    parsed = StatusSpec.parse(spec)
    table = parsed.lookup_table()
    for code in inside:
        assert code in parsed and table[code]
    for code in outside:
        assert code not in parsed and not table[code]


@pytest.mark.parametrize("spec", ["6xx", "abc", "504-500", "99", "5xx,", "1000"])
def test_status_spec_rejects(spec: str) -> None:
    with pytest.raises(UsageError):
        StatusSpec.parse(spec)


def test_parse_header() -> None:
    assert parse_header("X-Test:  a: b ") == ("X-Test", "a: b")
    for bad in ["NoColon", ": value", "Bad Name: v"]:
        with pytest.raises(UsageError):
            parse_header(bad)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "127.0.0.1:80",
        "http://",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:99999/",
    ],
)
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(UsageError):
        parse_url(url)


def test_body_from_file(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_bytes(b'{"a": 1}')
    assert parse_body(f"@{tmp_path / 'b.json'}") == b'{"a": 1}'
    assert parse_body("text") == b"text"
    with pytest.raises(UsageError, match="does not exist"):
        parse_body(f"@{tmp_path / 'missing'}")


def test_targets_http_format(tmp_path: Path) -> None:
    (tmp_path / "body.txt").write_bytes(b"payload")
    path = tmp_path / "targets.txt"
    path.write_text(
        "GET http://127.0.0.1:1/a\nX-A: 1\n\n"
        "# a comment\nPOST http://127.0.0.1:1/b\nContent-Type: text/plain\n@body.txt\n"
    )
    assert load_targets(path) == (
        Target("GET", "http://127.0.0.1:1/a", (("X-A", "1"),), None),
        Target("POST", "http://127.0.0.1:1/b", (("Content-Type", "text/plain"),), b"payload"),
    )


def test_targets_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "targets.jsonl"
    path.write_text(
        '{"method": "PUT", "url": "http://127.0.0.1:1/x", "headers": {"A": "b"}, "body": "hi"}\n'
        '{"url": "http://127.0.0.1:1/y"}\n'
    )
    assert load_targets(path) == (
        Target("PUT", "http://127.0.0.1:1/x", (("A", "b"),), b"hi"),
        Target("GET", "http://127.0.0.1:1/y", (), None),
    )


def test_targets_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("GET http://127.0.0.1:1/a\n\nFETCH http://127.0.0.1:1/b\n")
    with pytest.raises(UsageError, match=r"t.txt:3: .*FETCH"):
        load_targets(path)
    path.write_text("GET http://127.0.0.1:1/a\nbroken header\n")
    with pytest.raises(UsageError, match=r"t.txt:2:"):
        load_targets(path)


def test_run_config_requires_a_limit() -> None:
    target = Target.build("GET", "http://127.0.0.1:1/")
    with pytest.raises(UsageError, match="how long"):
        RunConfig(targets=(target,))
    with pytest.raises(UsageError, match="--qps"):
        RunConfig(targets=(target,), requests=1, qps=0)
    assert RunConfig(targets=(target,), requests=1, connections=4).worker_count == 4


def test_max_time_defaults_to_60s_and_can_be_switched_off(cli, server, db_path) -> None:  # type: ignore[no-untyped-def]
    """A total deadline by default (an endless body must not hold a worker forever)."""
    import json

    target = Target.build("GET", "http://127.0.0.1:1/")
    assert RunConfig(targets=(target,), requests=1).max_time_s == 60.0
    for args in ((), ("--max-time", "off"), ("--max-time", "2s")):
        result = cli("run", f"{server.url}/", "-n", "1", "--db", db_path, "--quiet", *args)
        assert result.exit_code == 0, result.stderr
    configs = query(db_path, "select config_json from runs order by id")
    stored = [json.loads(c)["max_time_s"] for (c,) in configs]
    assert stored == [60.0, None, 2.0]


def test_run_config_checks_its_rate_schedule() -> None:
    """An API caller's schedule: not beside qps, and as long as the run (capture/schedule.py)."""
    from capture.schedule import Schedule

    target = Target.build("GET", "http://127.0.0.1:1/")
    ramp = Schedule.ramp(10, 20, 2.0)
    with pytest.raises(UsageError, match=r"^--stages cannot go with --qps"):
        RunConfig(targets=(target,), duration_s=2.0, qps=5, schedule=ramp)
    with pytest.raises(UsageError, match=r"^--qps FROM:TO needs -d/--duration"):
        RunConfig(targets=(target,), requests=5, schedule=ramp)
    with pytest.raises(UsageError, match=r"^the rate schedule lasts 2s, not --duration 3s$"):
        RunConfig(targets=(target,), duration_s=3.0, schedule=ramp)
    config = RunConfig(targets=(target,), duration_s=2.0, schedule=ramp)
    assert config.paced and config.qps is None and config.asked_qps == 15.0
    # -n 10 caps it: those 10 requests are asked over the time the ramp gives them
    capped = RunConfig(targets=(target,), duration_s=2.0, requests=10, schedule=ramp)
    assert capped.asked_qps == pytest.approx(10 / ramp.time_of(10))
    assert RunConfig(targets=(target,), requests=1, qps=7).asked_qps == 7
    assert not RunConfig(targets=(target,), requests=1).paced
