"""The harness's CPU accounting (bench/harness.py cpu_spent): per process, never negative."""

from __future__ import annotations

from bench.harness import cpu_spent


def test_a_process_that_ends_mid_run_does_not_make_a_party_negative() -> None:
    before = {"server": {10: 1.0}, "database": {20: 5.0, 21: 0.5}}
    after = {"server": {10: 3.0}, "database": {21: 0.75, 22: 0.25}}  # 20 exited, 22 started
    spent = cpu_spent(before, after)
    assert spent == {"server": 2.0, "database": 0.25 + 0.25}


def test_a_reused_process_id_counts_from_zero_not_below() -> None:
    # A pid that ended and was given to a new process reads less than before: counted as 0.
    assert cpu_spent({"database": {7: 4.0}}, {"database": {7: 0.5}}) == {"database": 0.0}
