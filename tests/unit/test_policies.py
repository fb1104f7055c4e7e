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
    counts_without_skipped,
    decide_claims,
    decide_key_claims,
    is_missed,
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
        (
            ALLOW,
            RUN_LATEST,
            rows(10, 5, 0),
            False,
            ClaimDecision((3,), ((1, SkipReason.COALESCED), (2, SkipReason.COALESCED))),
        ),
        # ...and nothing while all of them are within the grace.
        (ALLOW, RUN_LATEST, rows(0.5, 0), False, ClaimDecision((1, 2))),
        # skip_missed drops the missed ones, runs the others.
        (ALLOW, SKIP_MISSED, rows(10, 0.5, 0), False, ClaimDecision((2, 3), ((1, SkipReason.MISSED),))),
        # Both: the coalesced run still waits for (queue) or skips past (skip) one in flight.
        (QUEUE, RUN_LATEST, rows(10, 0), True, ClaimDecision((), ((1, SkipReason.COALESCED),))),
        (
            SKIP,
            SKIP_MISSED,
            rows(10, 0.5, 0),
            False,
            ClaimDecision((2,), ((1, SkipReason.MISSED), (3, SkipReason.OVERLAP))),
        ),
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


def by_task(**minutes_by_task: tuple[float, ...]) -> dict[int, list[DueRow]]:
    """Due rows of key tasks named t1, t2, ...: ids 10 * task + 1, 10 * task + 2, ..., at
    that many minutes before NOW."""
    due: dict[int, list[DueRow]] = {}
    for name, minutes in minutes_by_task.items():
        task = int(name[1:])
        ids = range(10 * task + 1, 10 * task + 1 + len(minutes))
        due[task] = [DueRow(i, NOW - timedelta(minutes=m)) for i, m in zip(ids, minutes, strict=True)]
    return due


@pytest.mark.parametrize(
    ("policies", "due", "in_flight", "expected"),
    [
        # The defaults: the key's earliest due row, nothing while the key is busy.
        ({}, by_task(t1=(5, 0), t2=(7,)), (), ClaimDecision((21,))),
        ({}, by_task(t1=(5, 0), t2=(7,)), (3,), ClaimDecision()),
        # run_latest: the missed rows are coalesced first, then the key picks in order.
        (
            {1: TaskPolicies(SKIP, RUN_LATEST, 60)},
            by_task(t1=(10, 5, 0), t2=(3,)),
            (),
            ClaimDecision((21,), ((11, SkipReason.COALESCED), (12, SkipReason.COALESCED))),
        ),
        # ...even while the key is busy: the rows waiting their turn are decided meanwhile.
        (
            {1: TaskPolicies(ALLOW, RUN_LATEST, 60)},
            by_task(t1=(10, 5, 0), t2=(3,)),
            (2,),
            ClaimDecision((), ((11, SkipReason.COALESCED), (12, SkipReason.COALESCED))),
        ),
        # skip_missed: a row that waited in the key past the grace is dropped.
        (
            {1: TaskPolicies(ALLOW, SKIP_MISSED, 60)},
            by_task(t1=(10, 0.5), t2=(3,)),
            (),
            ClaimDecision((21,), ((11, SkipReason.MISSED),)),
        ),
        # skip: a run of the task in flight skips its rows; the key's other task still waits.
        (
            {1: TaskPolicies(SKIP, RUN_ALL, 60)},
            by_task(t1=(0,), t2=(0.5,)),
            (1,),
            ClaimDecision((), ((11, SkipReason.OVERLAP),)),
        ),
        # skip: one row of the task waits its turn; the later ones are skipped.
        (
            {1: TaskPolicies(SKIP, RUN_ALL, 60)},
            by_task(t1=(0.5, 0), t2=(0.6,)),
            (),
            ClaimDecision((21,), ((12, SkipReason.OVERLAP),)),
        ),
        (
            {1: TaskPolicies(SKIP, RUN_ALL, 60)},
            by_task(t1=(0.5, 0), t2=(0.6,)),
            (2,),
            ClaimDecision((), ((12, SkipReason.OVERLAP),)),
        ),
        # queue is what the key does already: every row waits, in order.
        ({1: TaskPolicies(QUEUE, RUN_ALL, 60)}, by_task(t1=(0.5, 0), t2=(0.6,)), (1,), ClaimDecision()),
        ({1: TaskPolicies(QUEUE, RUN_ALL, 60)}, by_task(t1=(0.5, 0), t2=(0.4,)), (), ClaimDecision((11,))),
    ],
)
def test_decide_key_claims(
    policies: dict[int, TaskPolicies],
    due: dict[int, list[DueRow]],
    in_flight: tuple[int, ...],
    expected: ClaimDecision,
) -> None:
    assert decide_key_claims(due, policies, in_flight, NOW) == expected
    # Nor does the key's decision depend on the order the rows were read in.
    reversed_due = {task: list(reversed(rows)) for task, rows in reversed(due.items())}
    assert decide_key_claims(reversed_due, policies, in_flight, NOW) == expected


def test_the_docstring_example_of_a_keys_decision() -> None:
    at = NOW.replace(minute=0)
    due = {
        1: [DueRow(i, at + timedelta(minutes=m)) for i, m in ((1, 0), (2, 5), (3, 10))],
        2: [DueRow(4, at + timedelta(minutes=7))],
    }
    decision = decide_key_claims(due, {1: TaskPolicies(SKIP, RUN_LATEST, 60)}, (), NOW)
    assert decision == ClaimDecision((4,), ((1, SkipReason.COALESCED), (2, SkipReason.COALESCED)))


def test_a_key_claims_at_most_one_row_and_decides_each_row_once() -> None:
    due = by_task(t1=(30, 20, 1, 0.5, 0), t2=(25, 0.2), t3=(12,))
    for overlap in OverlapPolicy:
        for misfire in MisfirePolicy:
            for in_flight in ((), (1,), (3,)):
                policies = {1: TaskPolicies(overlap, misfire, 120), 2: TaskPolicies(SKIP, misfire, 120)}
                decision = decide_key_claims(due, policies, in_flight, NOW)
                decided = list(decision.claim) + [row_id for row_id, _ in decision.skip]
                assert len(decided) == len(set(decided))
                assert len(decision.claim) <= (0 if in_flight else 1)
def test_a_skip_task_runs_the_fire_times_after_its_previous_runs_expected_end() -> None:
    assert starts_under_skip([0, 60, 120, 180, 240], 150) == [0, 180]
    assert starts_under_skip([120, 0, 60], 60) == [0, 60, 120]  # runs that just fit
    assert starts_under_skip([], 10) == []


def test_the_fire_times_a_skip_task_skips_as_instants() -> None:
    times = [NOW + timedelta(minutes=i) for i in range(4)]
    assert skipped_under_skip(times, timedelta(seconds=150)) == times[1:3]
    assert skipped_under_skip([], timedelta(seconds=150)) == []


def test_planned_counts_lose_the_fire_times_a_skip_task_will_skip() -> None:
    minutes = [NOW + timedelta(minutes=i) for i in range(4)]
    counts = {(m, "slow"): 1 for m in minutes} | {(NOW, "other"): 5}
    left = counts_without_skipped(counts, {(1, "slow"): minutes}, {"slow": 150_000})
    assert left == {
        (minutes[0], "slow"): 1,
        (minutes[1], "slow"): 0,
        (minutes[2], "slow"): 0,
        (minutes[3], "slow"): 1,
        (NOW, "other"): 5,
    }
    # Fire times before the counted minutes decide, and add no minute of their own.
    assert counts_without_skipped(
        {(minutes[1], "slow"): 1}, {(1, "slow"): minutes[:2]}, {"slow": 150_000}
    ) == {(minutes[1], "slow"): 0}
