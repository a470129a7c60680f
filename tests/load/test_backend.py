"""backend_of on urllib3's own HTTPHeaderDict: the first configured name present wins."""

from __future__ import annotations

import pytest
from urllib3 import HTTPHeaderDict

from capture.config import DEFAULT_BACKEND_HEADERS
from capture.load.backend import BACKEND_CHARS, backend_lookup, backend_of

DEFAULT = backend_lookup(DEFAULT_BACKEND_HEADERS)


def _headers(*pairs: tuple[str, str]) -> HTTPHeaderDict:
    found = HTTPHeaderDict()
    for name, value in pairs:
        found.add(name, value)
    return found


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("Server", "nginx"), ("Via", "1.1 lb-2")], "Via: 1.1 lb-2"),  # Via before Server
        ([("server", "nginx"), ("x-served-by", "backend-1")], "X-Served-By: backend-1"),
        ([("X-UPSTREAM-ADDR", "10.0.0.7:80")], "X-Upstream-Addr: 10.0.0.7:80"),  # as configured
        ([("Via", "1.1 a"), ("Via", "1.1 b")], "Via: 1.1 a, 1.1 b"),  # repeats joined
        ([("X-Backend", "")], "X-Backend: "),  # present, empty: still that backend
        ([("Content-Type", "text/plain")], None),
        ([], None),
    ],
)
def test_the_first_default_name_present_wins(
    pairs: list[tuple[str, str]], expected: str | None
) -> None:
    assert backend_of(_headers(*pairs), DEFAULT) == expected


def test_a_long_value_is_cut_and_nul_becomes_the_replacement_character() -> None:
    value = "b\x00" + "x" * 300
    found = backend_of(_headers(("X-Served-By", value)), DEFAULT)
    assert found == "X-Served-By: b\ufffd" + "x" * (BACKEND_CHARS - 2)


def test_the_lookup_keeps_the_given_order_and_each_name_once() -> None:
    assert backend_lookup(["x-pod", "X-POD", "Server"]) == (
        ("x-pod", "x-pod: "),
        ("server", "Server: "),
    )
    assert backend_lookup([]) == ()


def test_run_config_refuses_a_bad_name_and_a_bare_string() -> None:
    from capture.config import RunConfig, Target
    from capture.errors import UsageError

    target = (Target.build("GET", "http://127.0.0.1:9/"),)
    with pytest.raises(UsageError, match="'X Bad' is not a valid header name"):
        RunConfig(targets=target, requests=1, backend_headers=("X-Ok", "X Bad"))
    with pytest.raises(UsageError, match="a tuple of header names, not a str"):
        RunConfig(targets=target, requests=1, backend_headers="Server")  # type: ignore[arg-type]
    assert RunConfig(targets=target, requests=1).backend_headers == DEFAULT_BACKEND_HEADERS
