"""Failure signatures: varying parts masked so similar failures group together. Pure."""

from __future__ import annotations

import pytest

from capture.store.signature import SIGNATURE_CHARS, signature


@pytest.mark.parametrize(
    ("body", "message", "expected"),
    [
        (b'{"error": "order 123 not found"}', None, '{"error": "order # not found"}'),
        (
            b"id 550e8400-e29b-41d4-a716-446655440000 at 2026-11-25T16:30:00.123Z",
            None,
            "id <uuid> at <time>",
        ),
        (b"ptr 0xdeadbeef hash 0123456789abcdef", None, "ptr 0x<hex> hash <hex>"),
        (b"Expires: Wed, 21 Oct 2026 07:28:00 GMT", None, "Expires: <time>"),
        (b"upstream 10.1.2.3:8080 v1.2 item42", None, "upstream <addr> v# item#"),
        (b"  spread\r\n\tover   lines ", None, "spread over lines"),
        (
            None,
            "HTTPConnectionPool(host='127.0.0.1', port=8080): Read timed out.",
            "HTTPConnectionPool(host='<addr>', port=#): Read timed out.",
        ),
        (None, None, None),
        (b"", None, None),
    ],
)
def test_signature(body: bytes | None, message: str | None, expected: str | None) -> None:
    assert signature(body, message) == expected


def test_same_shape_same_signature_and_bounded() -> None:
    a = signature(b'{"error":"timeout after 3012 ms","request":"9f1c2d3e4b5a6978"}')
    b = signature(b'{"error":"timeout after 17 ms","request":"00aa11bb22cc33dd"}')
    assert a == b == '{"error":"timeout after # ms","request":"<hex>"}'
    assert len(signature(b"x" * 10_000) or "") == SIGNATURE_CHARS
