"""Hooks: count a 200 whose JSON body carries "errors" as a failure (the GraphQL case).

    capture run http://127.0.0.1:8080/graphql -X POST --data @query.json \
        --hooks examples/graphql_errors.py -d 30s

The failure's kind is `graphql_error`, so `capture failures --error graphql_error`
lists them with their bodies. (For this one case `--fail-if-json errors` does the same
without code; a hook can look at anything the response holds.)
"""

from __future__ import annotations

import requests

from capture import Context


def is_failure(response: requests.Response, ctx: Context) -> bool | str | None:
    """Returns 'graphql_error' for a JSON body with a non-empty "errors" member."""
    if response.status_code != 200:
        return None  # the status rules decide
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        document = response.json()
    except ValueError:
        return "invalid_json"
    if isinstance(document, dict) and document.get("errors"):
        return "graphql_error"
    return None
