"""One verdict per exchange: failed or not, and of which kind. Pure: no I/O, no state.

load/send.py does the I/O (the wire, the body, the rules' inputs, the hooks) and hands
judge() what happened. The order of precedence lives here and nowhere else:

1. An exception from the exchange: its kind (classify.py), whatever the status.
   `total_timeout` when --max-time stopped it. Nothing below applies.
2. A 1xx returned as the final response, or a header block with lines that are no
   header (load/headers.py keeps the status and the other headers): `protocol`.
3. A body whose Content-Encoding does not decode: `decode`.
4. A status in --fail-status: failed, with no kind.
5. The built-in rules' kind, only when nothing above failed.
6. A hook that raised: `hook_error`, over 2-5.
7. is_failure's answer: a non-empty string is the kind (over 2-5); True fails, of kind
   `hook` unless 2-5 gave one; False clears a failure by status alone (4), nothing else.
8. --slow: `slow`, only when nothing above failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from capture.verdict.classify import Phase, classify_exception
from capture.verdict.kinds import ErrorKind

__all__ = ["Criteria", "Verdict", "judge"]


class Verdict(NamedTuple):
    """The judgement of one exchange. kind is stored as requests.error_kind."""

    kind: str | None  # an ErrorKind value, an is_failure hook's own string, or None
    failed: bool
    detail: str | None = None  # for hook_error, the hook that raised


@dataclass(frozen=True, slots=True)
class Criteria:
    """What makes an exchange a failure, from the run's options; built once per run."""

    fail_status: Sequence[bool]  # indexed by status code: StatusSpec.lookup_table()
    slow_s: float | None = None
    max_time_s: float | None = None
    # The exceptions capture raises itself when --max-time passes mid-body
    # (load.body.TotalTimeout): they live in load, where their stored class name says.
    deadline_errors: tuple[type[BaseException], ...] = ()


# Verdicts are immutable, so the common ones are built once: judging allocates nothing
# unless a hook names a kind of its own or raises.
PASSED = Verdict(None, False)
FAILED_BY_STATUS = Verdict(None, True)
_FAILED: dict[str, Verdict] = {kind: Verdict(kind.value, True) for kind in ErrorKind}


def judge(
    criteria: Criteria,
    status: int | None,
    latency_s: float,
    error: BaseException | None = None,
    phase: Phase = Phase.SEND,
    *,
    redirected: bool = False,
    undecodable: bool = False,
    malformed: bool = False,
    rule_kind: ErrorKind | None = None,
    answer: object = None,
    raised: str | None = None,
) -> Verdict:
    """Receives the outcome of one exchange. Returns its verdict.

    :param redirected: a request went out before error (a URL error is then the Location's).
    :param undecodable: the body announces a Content-Encoding it does not decode with.
    :param malformed: the header block had lines that are no header (no colon, ...).
    :param rule_kind: what Rules.check found, or None.
    :param answer: what is_failure returned (None when it was not called).
    :param raised: the name of the hook that raised, or None.
    """
    if error is not None:
        return _FAILED[_exception_kind(criteria, error, phase, redirected, latency_s)]
    kind: str | None = None
    failed = False
    if status is not None:
        if status < 200:
            kind = ErrorKind.PROTOCOL  # send() closed the connection: the real one is unread
        elif malformed:
            kind = ErrorKind.PROTOCOL
        elif undecodable:
            kind = ErrorKind.DECODE
        failed = kind is not None or criteria.fail_status[status]
        if rule_kind is not None and not failed:
            kind, failed = rule_kind, True
        if raised is not None:
            return Verdict(ErrorKind.HOOK_ERROR.value, True, raised)
        if answer is None:
            pass  # no hook answered: the usual rules decide
        elif answer is True:
            kind, failed = kind or ErrorKind.HOOK, True
        elif answer is False:
            failed = failed and kind is not None  # overrides the status, not a broken exchange
        elif isinstance(answer, str) and answer:
            kind, failed = str(answer), True
    if failed:
        return FAILED_BY_STATUS if kind is None else _FAILED.get(kind) or Verdict(kind, True)
    if criteria.slow_s is not None and latency_s > criteria.slow_s:
        return _FAILED[ErrorKind.SLOW]
    return PASSED


def _exception_kind(
    criteria: Criteria, error: BaseException, phase: Phase, redirected: bool, latency_s: float
) -> ErrorKind:
    """Returns the kind of an exception from the exchange, --max-time first."""
    if isinstance(error, criteria.deadline_errors):
        return ErrorKind.TOTAL_TIMEOUT
    kind = classify_exception(error, phase, redirected=redirected)
    if (
        kind is ErrorKind.READ_TIMEOUT
        and criteria.max_time_s is not None
        and latency_s >= criteria.max_time_s
    ):
        # urllib3's Timeout(total=) cut the wait for the status line: --max-time did it.
        return ErrorKind.TOTAL_TIMEOUT
    return kind
