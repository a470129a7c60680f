"""The fast header parser gives exactly what http.client's own parser gives."""

from __future__ import annotations

import io

import pytest

from capture.load.headers import _stdlib_parse_headers, malformed_lines, parse_headers

BLOCKS = [
    b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
    b"Set-Cookie: a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\nSet-Cookie: b=2\r\n\r\n",
    b"X-Weird: caf\xc3\xa9 \xff\xfe\r\nX-Esc: \x1b[31mred\r\n\r\n",
    b"Folded: a\r\n  b\r\nX: y\r\n\r\n",  # obsolete line folding: stdlib path
    b"X:   spaced   \r\nY:\r\n",
    b"X: y\nZ: w\n\n",
    b"X: 1\r\nx: 2\r\nValue: caf\xe9 \x80\r\n\r\n",  # a repeated name, latin-1 bytes
    b"X: y\r\n",  # ends without a blank line
    b"\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_same_message_as_the_stdlib(block: bytes) -> None:
    fast = parse_headers(io.BytesIO(block + b"BODY"))
    slow = _stdlib_parse_headers(io.BytesIO(block + b"BODY"))
    assert fast.items() == slow.items()
    assert [type(d) for d in fast.defects] == [type(d) for d in slow.defects]
    assert (fast.get_payload() or "") == (slow.get_payload() or "")
    # Lookups as http.client and urllib3 make them: any case, the first of repeated names.
    for name in [k for k, _ in slow.items()] + ["missing"]:
        for spelled in (name, name.lower(), name.upper()):
            assert fast.get(spelled) == slow.get(spelled)
            assert fast.get(spelled, "none") == slow.get(spelled, "none")
            assert fast.get_all(spelled) == slow.get_all(spelled)


MALFORMED = [
    # (block, the headers kept, the lines listed as no header)
    (b"NoColonLine\r\nX: y\r\n\r\n", [("X", "y")], ("NoColonLine",)),
    (b"X: y\r\nFrom someone\r\n\r\n", [("X", "y")], ("From someone",)),
    (
        b"X:   spaced   \r\nY:\r\nZ :bad\r\n\r\n",
        [("X", "spaced"), ("Y", ""), ("Z", "bad")],
        ("Z :bad",),
    ),
    (
        b"A: 1\r\nbad line\r\nContent-Length: 5\r\nB: 2\r\n  folded\r\n\r\n",
        [("A", "1"), ("Content-Length", "5"), ("B", "2 folded")],
        ("bad line",),
    ),
    (b"X Y: 1\r\nZ: 2\r\n\r\n", [("Z", "2")], ("X Y: 1",)),
]


@pytest.mark.parametrize(("block", "kept", "bad"), MALFORMED)
def test_lines_that_are_no_header_are_listed_and_the_rest_kept(
    block: bytes, kept: list[tuple[str, str]], bad: tuple[str, ...]
) -> None:
    # The stdlib parser stops at such a line and takes the rest for the body (its
    # payload, which urllib3 only logs), or drops it with a defect.
    slow = _stdlib_parse_headers(io.BytesIO(block + b"BODY"))
    assert slow.items() != kept or slow.defects or slow.get_payload()
    msg = parse_headers(io.BytesIO(block + b"BODY"))
    assert (msg.items(), malformed_lines(msg), msg.defects) == (kept, bad, [])


def test_well_formed_blocks_list_no_malformed_line() -> None:
    for block in BLOCKS:
        assert malformed_lines(parse_headers(io.BytesIO(block + b"BODY"))) == ()


def test_same_limits_as_the_stdlib() -> None:
    import http.client

    too_many = b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n"
    too_long = b"X: " + b"a" * 70_000 + b"\r\n\r\n"
    for block, error in (
        (too_many, http.client.HTTPException),
        (too_long, http.client.LineTooLong),
    ):
        for parser in (parse_headers, _stdlib_parse_headers):
            with pytest.raises(error):
                parser(io.BytesIO(block))


def test_a_bare_cr_inside_a_value_keeps_the_headers_after_it() -> None:
    # The stdlib parser takes the CR for a line end and the rest for the body.
    block = b"Content-Type: text/plain;\rcharset=utf-8\r\nContent-Length: 5\r\n\r\n"
    msg = parse_headers(io.BytesIO(block + b"hello"))
    assert msg.items() == [("Content-Type", "text/plain;\rcharset=utf-8"), ("Content-Length", "5")]
    assert not msg.defects
