"""Hooks: give every request a unique id and an HMAC signature header.

    capture run http://127.0.0.1:8080/api --hooks examples/unique_ids.py -n 100

The id lets you find a failure in the server's logs; the signature shows how to sign
each request (here over method, path, id and body with a shared key).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from urllib.parse import urlsplit

import requests

from capture import Context

KEY = os.environ.get("CAPTURE_EXAMPLE_KEY", "example-key").encode()


def build_request(ctx: Context) -> requests.Request:
    """Returns the target with X-Request-Id and X-Signature headers added."""
    target = ctx.target
    request_id = f"{ctx.run_id}-{ctx.seq}-{uuid.uuid4().hex[:8]}"
    body = target.body or b""
    message = b"\n".join(
        [target.method.encode(), urlsplit(target.url).path.encode(), request_id.encode(), body]
    )
    signature = hmac.new(KEY, message, hashlib.sha256).hexdigest()
    headers = dict(target.headers)
    headers["X-Request-Id"] = request_id
    headers["X-Signature"] = f"sha256={signature}"
    return requests.Request(target.method, target.url, headers=headers, data=target.body)
