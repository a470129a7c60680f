"""run_shape: the processes and sessions of a whole run, over all its hosts."""

from __future__ import annotations

from capture.store.run_config import run_shape


def test_one_host_is_its_procs_and_connections() -> None:
    assert run_shape({"procs": 2, "connections": 4}, None) == (2, 8)
    assert run_shape({}, None) == (1, 1)  # a file written by hand


def test_a_hosts_run_counts_every_host() -> None:
    assert run_shape({"procs": 2, "connections": 4}, 3) == (6, 24)


def test_a_merged_run_sums_its_sources() -> None:
    merged = {"procs": 1, "connections": 2, "merged_from": [
        {"sessions": 2, "procs": 1}, {"sessions": 6, "procs": 2}, {"sessions": 1, "procs": 1},
    ]}  # fmt: skip
    assert run_shape(merged, 3) == (4, 9)


def test_nonsense_in_config_counts_as_one() -> None:
    assert run_shape({"procs": "x", "connections": -3, "merged_from": "no"}, 0) == (1, 1)


def test_the_client_advice_is_per_host() -> None:
    """--procs is each host's: 3 hosts of 1 process each are told --procs 2 on each host,
    not --procs 6 (18 processes)."""
    from capture.store.saturation import Saturation

    found = Saturation(cpu_share=0.9, reasons=("its process kept 90% of a core busy",))
    assert "--procs 2 on each host," in found.advice(3, hosts=3)
    assert "--procs 4 on each host," in found.advice(6, hosts=3)
    assert "--procs 4, or" in found.advice(2)  # one host: as before
