"""The pure decisions of per-task scheduling policies (engine.core.policies)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.policies import (
    ClaimDecision,
    DueRow,
    MisfirePolicy,
    OverlapPolicy,
    SkipReason,
    TaskPolicies,
    combination_problem,
    decide_claims,
    is_missed,
    ordering_problem,
    pick_next_in_order,
    skipped_under_skip,
    starts_under_skip,
)

NOW = datetime(2026, 6, 1, 12, 10, tzinfo=UTC)
ALLOW, SKIP, QUEUE = OverlapPolicy.ALLOW, OverlapPolicy.SKIP, OverlapPolicy.QUEUE
RUN_ALL, RUN_LATEST, SKIP_MISSED = MisfirePolicy.RUN_ALL, MisfirePolicy.RUN_LATEST, MisfirePolicy.SKIP_MISSED


def rows(*minutes_before_now: float) -> list[DueRow]:
    """Due rows with ids 1, 2, ... scheduled that many minutes before NOW."""
    return [DueRow(i, NOW - timedelta(minutes=m)) for i, m in enumerate(minutes_before_now, start=1)]


def test_a_fire_time_late_by_exactly_the_grace_is_on_time() -> None:
    assert not is_missed(NOW - timedelta(seconds=30), NOW, 30)
    assert is_missed(NOW - timedelta(seconds=31), NOW, 30)


@pytest.mark.parametrize(
    ("overlap", "misfire", "due", "in_flight", "expected"),
    [
        # The defaults claim everything, however late, however much is in flight.
        (ALLOW, RUN_ALL, rows(10, 5, 0), True, ClaimDecision((1, 2, 3))),
        # skip: the first runs, the ones that would overlap it are recorded.
        (SKIP, RUN_ALL, rows(0.02, 0), False, ClaimDecision((1,), ((2, SkipReason.OVERLAP),))),
        (SKIP, RUN_ALL, rows(0), True, ClaimDecision((), ((1, SkipReason.OVERLAP),))),
        # queue: the first runs when nothing is in flight; the others wait, Scheduled.
        (QUEUE, RUN_ALL, rows(0.02, 0), False, ClaimDecision((1,))),
        (QUEUE, RUN_ALL, rows(0.02, 0), True, ClaimDecision()),
        # run_latest coalesces everything due into the latest once one fire time is missed...
        (ALLOW, RUN_LATEST, rows(10, 5, 0), False,
         ClaimDecision((3,), ((1, SkipReason.COALESCED), (2, SkipReason.COALESCED)))),
        # ...and nothing while all of them are within the grace.
        (ALLOW, RUN_LATEST, rows(0.5, 0), False, ClaimDecision((1, 2))),
        # skip_missed drops the missed ones, runs the others.
        (ALLOW, SKIP_MISSED, rows(10, 0.5, 0), False,
         ClaimDecision((2, 3), ((1, SkipReason.MISSED),))),
        # Both: the coalesced run still waits for (queue) or skips past (skip) one in flight.
        (QUEUE, RUN_LATEST, rows(10, 0), True, ClaimDecision((), ((1, SkipReason.COALESCED),))),
        (SKIP, SKIP_MISSED, rows(10, 0.5, 0), False,
         ClaimDecision((2,), ((1, SkipReason.MISSED), (3, SkipReason.OVERLAP)))),
        (SKIP, RUN_ALL, [], True, ClaimDecision()),
    ],
)
def test_decide_claims(
    overlap: OverlapPolicy,
    misfire: MisfirePolicy,
    due: list[DueRow],
    in_flight: bool,
    expected: ClaimDecision,
) -> None:
    policies = TaskPolicies(overlap, misfire, misfire_grace_s=60)
    assert decide_claims(policies, due, in_flight, NOW) == expected
    # The decision does not depend on the order the rows were read in.
    assert decide_claims(policies, list(reversed(due)), in_flight, NOW) == expected


def test_every_due_row_is_claimed_skipped_or_left_once() -> None:
    due = rows(30, 20, 10, 1, 0.5, 0)
    for overlap in OverlapPolicy:
        for misfire in MisfirePolicy:
            for in_flight in (False, True):
                decision = decide_claims(TaskPolicies(overlap, misfire, 120), due, in_flight, NOW)
                decided = list(decision.claim) + [row_id for row_id, _ in decision.skip]
                assert len(decided) == len(set(decided))
                assert set(decided) <= {row.schedule_id for row in due}
                if overlap is not ALLOW:
                    assert len(decision.claim) <= (0 if in_flight else 1)


def test_stored_policies_with_no_grace_take_the_default() -> None:
    assert TaskPolicies.of("skip", "run_latest", None) == TaskPolicies(SKIP, RUN_LATEST, 60)
    assert TaskPolicies.of("allow", "run_all", 0).misfire_grace_s == 0
    assert not TaskPolicies.of("allow", "run_all", None).claimed_by_policy
    assert TaskPolicies.of("queue", "run_all", None).claimed_by_policy
    assert TaskPolicies.of("allow", "skip_missed", None).claimed_by_policy


@pytest.mark.parametrize(
    ("kind", "overlap", "misfire", "grace", "field"),
    [
        ("cron", SKIP, RUN_LATEST, 30, None),
        ("cron", QUEUE, RUN_ALL, None, None),
        ("once", SKIP, RUN_ALL, None, "overlap_policy"),
        ("immediate", ALLOW, SKIP_MISSED, None, "misfire_policy"),
        ("cron", SKIP, RUN_ALL, 30, "misfire_grace_s"),
        ("once", ALLOW, RUN_ALL, None, None),
    ],
)
def test_combination_problem_names_the_field(
    kind: str, overlap: OverlapPolicy, misfire: MisfirePolicy, grace: int | None, field: str | None
) -> None:
    problem = combination_problem(kind, overlap, misfire, grace)
    assert (problem[0] if problem else None) == field


def test_the_next_row_of_an_ordering_key_is_the_earliest_due_once_nothing_is_in_flight() -> None:
    due = [DueRow(7, NOW), DueRow(9, NOW - timedelta(minutes=1)), DueRow(8, NOW - timedelta(minutes=1))]
    assert pick_next_in_order(due, in_flight=False) == 8
    assert pick_next_in_order(due, in_flight=True) is None
    assert pick_next_in_order([], in_flight=False) is None


def test_an_ordering_key_goes_with_the_default_policies_only() -> None:
    assert ordering_problem("k", ALLOW, RUN_ALL) is None
    assert ordering_problem(None, SKIP, RUN_LATEST) is None
    assert ordering_problem("k", QUEUE, RUN_ALL) is not None
    assert ordering_problem("k", ALLOW, SKIP_MISSED) is not None


def test_a_skip_task_runs_the_fire_times_after_its_previous_runs_expected_end() -> None:
    assert starts_under_skip([0, 60, 120, 180, 240], 150) == [0, 180]
    assert starts_under_skip([120, 0, 60], 60) == [0, 60, 120]  # runs that just fit
    assert starts_under_skip([], 10) == []


def test_the_fire_times_a_skip_task_skips_as_instants() -> None:
    times = [NOW + timedelta(minutes=i) for i in range(4)]
    assert skipped_under_skip(times, timedelta(seconds=150)) == times[1:3]
    assert skipped_under_skip([], timedelta(seconds=150)) == []
