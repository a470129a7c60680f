"""The precedence in judge(): transport error, then a 1xx and an undecodable body, then
the status, the built-in rules, the hooks and --slow. Every row: an exact (kind, failed)."""

from __future__ import annotations

from typing import Any

import pytest
from requests import exceptions as rq
from urllib3 import exceptions as u3

from capture.config import DEFAULT_FAIL_STATUS
from capture.load.body import TotalTimeout
from capture.verdict.classify import Phase
from capture.verdict.judge import FAILED_BY_STATUS, PASSED, Criteria, Verdict, judge
from capture.verdict.kinds import ErrorKind as K

DEFAULT = DEFAULT_FAIL_STATUS.lookup_table()  # 400-599
ONLY_302 = tuple(code == 302 for code in range(1000))
RESET = u3.ProtocolError("Connection broken", ConnectionResetError(104, "reset"))
REFUSED = rq.ConnectionError(
    u3.MaxRetryError(None, "/", u3.NewConnectionError(None, "[Errno 111] Connection refused"))  # type: ignore[arg-type]
)


def row(expected: tuple[str | None, bool], **inputs: Any) -> Any:
    """One table row: judge's inputs (status first) and the expected (kind, failed)."""
    return pytest.param(inputs, expected, id="-".join(f"{k}={v}" for k, v in inputs.items()))


ROWS = [
    # The status alone, against --fail-status.
    row((None, False), status=200),
    row((None, False), status=302),
    row((None, True), status=404),
    row((None, True), status=503),
    row((None, True), status=302, fail=ONLY_302),
    row((None, False), status=500, fail=ONLY_302),
    row((None, False), status=None),  # nothing to judge, nothing raised
    # A transport error beats the status, the rules, the hooks and --slow.
    row(("body_reset", True), status=200, error=RESET, phase=Phase.BODY),
    row(("body_reset", True), status=503, error=RESET, phase=Phase.BODY),
    row(("reset", True), status=None, error=RESET),
    row(("connect_refused", True), status=None, error=REFUSED, answer=False),
    row(("body_reset", True), status=200, error=RESET, phase=Phase.BODY, rule_kind=K.BODY_MATCH),
    row(("body_reset", True), status=200, error=RESET, phase=Phase.BODY, answer="mine"),
    row(("body_reset", True), status=200, error=RESET, phase=Phase.BODY, raised="is_failure"),
    row(("body_reset", True), status=200, error=RESET, phase=Phase.BODY, latency=9.0, slow=0.5),
    row(("total_timeout", True), status=200, error=TotalTimeout("late"), phase=Phase.BODY),
    row(
        ("total_timeout", True),
        status=None,
        error=u3.ReadTimeoutError(None, "/", "t"),
        latency=2.0,
        max_time=2.0,
    ),  # type: ignore[arg-type]
    # A 1xx returned as final is a protocol error, whatever the status set, rules or is_failure.
    row(("protocol", True), status=103),
    row(("protocol", True), status=103, fail=ONLY_302),
    row(("protocol", True), status=103, rule_kind=K.BODY_MATCH),
    row(("protocol", True), status=103, answer=False),
    row(("protocol", True), status=103, answer=True),
    row(("mine", True), status=103, answer="mine"),
    # A body that does not decode: the same standing.
    row(("decode", True), status=200, undecodable=True),
    row(("decode", True), status=503, undecodable=True),
    row(("decode", True), status=200, undecodable=True, rule_kind=K.JSON_INVALID),
    row(("decode", True), status=200, undecodable=True, answer=False),
    row(("decode", True), status=200, undecodable=True, answer=True),
    row(("mine", True), status=200, undecodable=True, answer="mine"),
    # The rules, only when nothing above failed.
    row(("body_match", True), status=200, rule_kind=K.BODY_MATCH),
    row(("header_mismatch", True), status=302, rule_kind=K.HEADER_MISMATCH),
    row((None, True), status=503, rule_kind=K.BODY_MATCH),  # the status failed first
    row(("body_match", True), status=200, rule_kind=K.BODY_MATCH, answer=False),
    row(("body_match", True), status=200, rule_kind=K.BODY_MATCH, answer=True),
    row(("mine", True), status=200, rule_kind=K.BODY_MATCH, answer="mine"),
    # is_failure overrides the status: True, its own kind, False; None and others: no say.
    row(("hook", True), status=200, answer=True),
    row(("hook", True), status=503, answer=True),
    row((None, False), status=503, answer=False),
    row((None, False), status=503, rule_kind=K.BODY_MATCH, answer=False),  # rules never ran
    row((None, False), status=200, answer=False),
    row(("mine", True), status=200, answer="mine"),
    row(("mine", True), status=503, answer="mine"),
    row(("dns", True), status=200, answer="dns"),  # stored as given
    row((None, False), status=200, answer=""),
    row((None, True), status=503, answer=""),
    row((None, False), status=200, answer=1),  # only True itself
    row((None, True), status=503, answer=0),  # only False itself
    # A hook that raised beats the status, rules, is_failure's answer and --slow.
    row(("hook_error", True), status=200, raised="is_failure"),
    row(("hook_error", True), status=503, raised="is_failure"),
    row(("hook_error", True), status=200, rule_kind=K.BODY_MATCH, raised="is_failure"),
    row(("hook_error", True), status=200, undecodable=True, raised="is_failure"),
    row(("hook_error", True), status=103, raised="on_response"),
    row(("hook_error", True), status=503, answer=False, raised="on_response"),
    row(("hook_error", True), status=200, answer="mine", raised="on_response"),
    row(("hook_error", True), status=200, latency=9.0, slow=0.5, raised="on_response"),
    # --slow: only what did not fail otherwise, strictly slower.
    row(("slow", True), status=200, latency=0.6, slow=0.5),
    row((None, False), status=200, latency=0.5, slow=0.5),
    row((None, False), status=200, latency=9.0),
    row(("slow", True), status=None, latency=0.6, slow=0.5),
    row((None, True), status=503, latency=9.0, slow=0.5),
    row(("body_match", True), status=200, rule_kind=K.BODY_MATCH, latency=9.0, slow=0.5),
    row(("hook", True), status=200, answer=True, latency=9.0, slow=0.5),
    row(("slow", True), status=503, answer=False, latency=9.0, slow=0.5),  # cleared, then slow
    row(("slow", True), status=200, answer="", latency=9.0, slow=0.5),
]


@pytest.mark.parametrize(("inputs", "expected"), ROWS)
def test_precedence(inputs: dict[str, Any], expected: tuple[str | None, bool]) -> None:
    criteria = Criteria(
        inputs.pop("fail", DEFAULT),
        slow_s=inputs.pop("slow", None),
        max_time_s=inputs.pop("max_time", None),
        deadline_errors=(TotalTimeout,),
    )
    status, latency_s = inputs.pop("status"), inputs.pop("latency", 0.01)
    error, phase = inputs.pop("error", None), inputs.pop("phase", Phase.SEND)
    verdict = judge(criteria, status, latency_s, error, phase, **inputs)
    assert (verdict.kind, verdict.failed) == expected
    assert verdict.kind is None or type(verdict.kind) is str  # stored as plain text


def test_hook_error_names_the_hook_that_raised() -> None:
    criteria = Criteria(DEFAULT)
    assert judge(criteria, 200, 0.01, raised="on_response") == Verdict(
        "hook_error", True, "on_response"
    )
    assert judge(criteria, 200, 0.01, answer="mine").detail is None


def test_common_verdicts_are_shared_not_built_per_call() -> None:
    criteria = Criteria(DEFAULT, slow_s=0.5)
    assert judge(criteria, 200, 0.01) is PASSED
    assert judge(criteria, 503, 0.01) is FAILED_BY_STATUS
    assert judge(criteria, 200, 0.6) is judge(criteria, 200, 0.7)
    assert judge(criteria, 200, 0.01, rule_kind=K.BODY_MATCH) is judge(
        criteria, 302, 0.01, rule_kind=K.BODY_MATCH
    )
