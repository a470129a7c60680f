"""rate_threshold on windows as a real ramp fills them: whole requests a window."""

from __future__ import annotations

from capture.diagnose.model import Bin, Failure, RunEvidence
from capture.diagnose.rate import rate_threshold

# (requests, 429s) per 0.1 s window of `--qps 20:220 -d 4s` into ?bucket=100&burst=5,
# as stored: the onset window (19) holds 11 requests, the one before it 12.
WINDOWS = [(3, 0), (2, 0), (4, 0), (3, 0), (5, 0), (4, 0), (6, 0), (5, 0), (7, 0), (6, 0),
           (8, 0), (7, 0), (9, 0), (8, 0), (9, 0), (10, 0), (11, 0), (10, 0), (12, 0), (11, 1),
           (13, 2), (12, 3), (13, 3), (14, 4), (15, 4), (14, 5), (15, 5), (16, 6), (17, 6),
           (16, 7), (18, 7), (17, 8), (19, 8), (18, 9), (20, 9), (19, 9), (21, 11), (20, 10),
           (22, 12), (21, 11)]  # fmt: skip


def _evidence() -> RunEvidence:
    failures = []
    for i, (_, failed) in enumerate(WINDOWS):
        for k in range(failed):
            failures.append(
                Failure(
                    id=len(failures) + 1,
                    offset_ms=i * 100.0 + k,
                    status=429,
                    error_kind=None,
                    method="GET",
                    url="http://127.0.0.1/api",
                    remote_addr="127.0.0.1:1",
                    connection_id=1,
                    position=2,
                    bytes_in=18,
                    latency_ms=1.0,
                    ttfb_ms=1.0,
                    signature="# Too Many Requests",
                    outcome="429",
                    backend=None,
                )
            )
    bins = tuple(Bin(round(i * 0.1, 6), n, f, 1.0, 1.0) for i, (n, f) in enumerate(WINDOWS))
    return RunEvidence(
        run_id=1,
        requests=sum(n for n, _ in WINDOWS),
        failed=len(failures),
        duration_s=4.0,
        bin_s=0.1,
        bins=bins,
        dimensions={},
        failures=tuple(failures),
        gaps=(),
        ok_bytes=(),
        ok_transfer_ms=(),
        retry_after={"1": len(failures)},
        client=None,
    )


def test_the_onset_is_found_when_its_window_holds_one_request_fewer() -> None:
    (found,) = rate_threshold(_evidence())
    assert found.values["onset_s"] == 1.9
    assert found.values["limit_rate"] == 100.0
    assert 100 <= found.values["rate"] <= 150
    assert len(found.explained) == sum(f for _, f in WINDOWS)
