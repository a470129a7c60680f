"""What verdict.judge needs about one exchange, gathered after the wire is done: whether
the body decodes, the built-in rules, the is_failure and on_response hooks; and what the
hooks are told (Context, Outcome). The verdict and its evidence go into the Record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from capture.config import RunConfig
from capture.load.body import TotalTimeout, decode, decode_fails, is_encoded
from capture.load.evidence import failure_detail
from capture.load.headers import response_malformed
from capture.load.hooks import Context, Hooks, Outcome
from capture.store.record import FailureDetail, Record, mark_hook_error
from capture.verdict.classify import Phase
from capture.verdict.judge import Criteria, judge
from capture.verdict.kinds import ErrorKind

__all__ = ["Assessor"]


class Assessor:
    """Judges finished exchanges of one run and tells its hooks about them."""

    def __init__(
        self,
        config: RunConfig,
        run_id: int,
        *,
        hooks: Hooks | None,
        stop: Callable[[str], None],
    ) -> None:
        self._config = config
        self._run_id = run_id
        self._max_body = config.max_body_bytes
        self._criteria = Criteria(
            config.fail_status.lookup_table(),
            config.slow_s,
            config.max_time_s,
            deadline_errors=(TotalTimeout,),
        )
        self._hooks = hooks
        self._stop = stop
        rules = config.rules()
        self._rules = rules if rules.any else None
        # Only hooks or body rules need the response object with its decoded body.
        self._inspect = self._rules is not None or (
            hooks is not None and (hooks.is_failure or hooks.on_response) is not None
        )

    def context(self, rec: Record) -> Context:
        """Returns what hooks are told about rec."""
        return Context(
            run_id=self._run_id,
            seq=rec.seq,
            worker=rec.worker,
            session=rec.session,
            target=self._config.targets[rec.target],
            target_index=rec.target,
            _stop=self._stop,
        )

    def outcome(self, rec: Record, stop: Callable[[str], None]) -> Outcome:
        """Returns the copy of a failed record that on_failure receives."""
        detail = rec.detail or FailureDetail()
        target = self._config.targets[rec.target]
        return Outcome(
            run_id=self._run_id,
            seq=rec.seq,
            worker=rec.worker,
            session=rec.session,
            method=rec.method or target.method,
            url=rec.url or target.url,
            status=rec.status,
            error_kind=rec.error_kind,
            latency_ms=rec.latency_s * 1000.0,
            body=detail.body,
            response_headers=tuple(detail.response_headers or ()),
            error_message=detail.error_message,
            local_addr=rec.local_addr,
            remote_addr=rec.remote_addr,
            _stop=stop,
        )

    def judge(
        self,
        rec: Record,
        raw: Any,
        response: requests.Response | None,
        error: BaseException | None,
        phase: Phase,
        kept: list[bytes],
        prepared: requests.PreparedRequest,
        headers: Any,
        redirected: bool,
    ) -> None:
        """Gathers what judge() needs (body, rules, hooks), then records its verdict."""
        status = rec.status
        body = b"".join(kept) if kept else b""
        undecodable = (
            error is None
            and bool(body)
            and is_encoded(raw.headers)
            and decode_fails(body, raw.headers.get("Content-Encoding", ""))
        )
        malformed = () if raw is None else response_malformed(raw)
        rule_kind: ErrorKind | None = None
        answer: object = None
        hook_error: tuple[BaseException, str] | None = None
        if self._inspect and raw is not None and error is None and status is not None:
            if response is None:  # the lean path has none: build it for the hooks
                response = self.response(prepared, headers, raw)
            # The rules' kind counts only for an exchange that has not failed yet: skip them
            # for one that has (a 5xx under --fail-status, a 1xx, an undecodable body).
            settled = (
                status < 200 or undecodable or bool(malformed) or self._criteria.fail_status[status]
            )
            rule_kind, answer, hook_error = self.inspect_response(
                rec, response, body, rules=not settled
            )
        verdict = judge(
            self._criteria,
            status,
            rec.latency_s,
            error,
            phase,
            redirected=redirected,
            undecodable=undecodable,
            malformed=bool(malformed),
            rule_kind=rule_kind,
            answer=answer,
            raised=None if hook_error is None else hook_error[1],
        )
        rec.error_kind = verdict.kind
        rec.failed = verdict.failed
        if verdict.failed:
            keep_raw = undecodable or verdict.kind == ErrorKind.DECODE
            rec.detail = failure_detail(
                rec, raw, error, body, keep_raw, prepared, headers, self._max_body
            )
            if malformed and rec.detail.error_message is None:
                rec.detail.error_message = _malformed_note(malformed)
        if hook_error is not None:
            mark_hook_error(rec, *hook_error)

    def inspect_response(
        self, rec: Record, response: requests.Response, body: bytes, *, rules: bool = True
    ) -> tuple[ErrorKind | None, object, tuple[BaseException, str] | None]:
        """Applies the built-in rules, then calls is_failure and on_response.

        Returns the rules' kind, is_failure's answer and the hook that raised, if any.
        """
        decoded = body
        if body and is_encoded(response.headers):
            decoded = (
                decode(body, response.headers.get("Content-Encoding", ""), self._max_body)[0]
                or body
            )
        # requests' own attributes: .content, .text and .json() then work in hooks.
        response._content = decoded
        response._content_consumed = True  # type: ignore[attr-defined]
        # Checked before the hooks run, so a hook that changes the response cannot
        # change what the rules saw.
        checks = self._rules if rules else None
        rule_kind = None if checks is None else checks.check(response.headers, decoded)
        hooks = self._hooks
        if hooks is None:
            return rule_kind, None, None
        ctx = self.context(rec)
        answer: object = None
        if hooks.is_failure is not None:
            try:
                answer = hooks.is_failure(response, ctx)
            except BaseException as exc:  # a hook's sys.exit() too: its failure
                return rule_kind, None, (exc, "is_failure")
        if hooks.on_response is not None:
            try:
                hooks.on_response(response, ctx)
            except BaseException as exc:  # a hook's sys.exit() too: its failure
                return rule_kind, answer, (exc, "on_response")
        return rule_kind, answer, None

    def response(
        self, prepared: requests.PreparedRequest, headers: Any, raw: Any
    ) -> requests.Response:
        """Wraps a urllib3 response in a requests.Response, as HTTPAdapter would."""
        request = prepared.copy()
        request.headers = headers
        adapter = HTTPAdapter()
        return adapter.build_response(request, raw)


def _malformed_note(lines: tuple[str, ...]) -> str:
    """Returns the stored message for a header block with lines that are no header."""
    shown = ", ".join(repr(line[:200]) for line in lines[:5])
    more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
    return (
        f"{len(lines)} line(s) of the response's header block are no header"
        f" (no colon, a space before it, or a name that is not a token): {shown}{more};"
        " the other headers are kept"
    )
