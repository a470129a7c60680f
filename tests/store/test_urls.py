"""URL templates of the per-URL view: ids collapse, names with numbers in them do not."""

from __future__ import annotations

import pytest

from capture.store.urls import url_template

CASES = {
    "http://h:80/api/orders/17": "http://h:80/api/orders/#",
    # versions and names that carry a digit stay apart: v1 and v2 are two templates
    "http://h/api/v1/orders/17": "http://h/api/v1/orders/#",
    "http://h/api/v2/orders/18": "http://h/api/v2/orders/#",
    "http://h/s3/oauth2/cb": "http://h/s3/oauth2/cb",
    "http://h/users/user12345/x": "http://h/users/user#/x",
    "http://h/o/123e4567-e89b-12d3-a456-426614174000": "http://h/o/<uuid>",
    "http://h/p/2024-05-01T12:00:00Z": "http://h/p/<time>",
    "http://h/files/a3f9c2d1e0b4c5d6e7f8": "http://h/files/<hex>",
    "http://h/q?id=42&v=v2&mix=500:20,503:1": "http://h/q?id=#&v=v2&mix=#:#,#:#",
    "/relative/7": "/relative/#",
}


@pytest.mark.parametrize(("url", "template"), CASES.items(), ids=list(CASES))
def test_url_template(url: str, template: str) -> None:
    assert url_template(url) == template
