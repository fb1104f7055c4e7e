"""The forecast's moves for `queue` overlap, ordering keys and dependencies
(engine.core.forecast_policies), from tables of instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.core.dependencies import DependencyTrigger
from engine.core.forecast_policies import (
    Attempts,
    PlannedRun,
    chain_runs,
    counts_with_policies,
    dependent_starts,
    final_end_us,
    serialised_moves,
    serialised_starts,
    starts_in_key,
)
from engine.core.policies import MisfirePolicy, SkipReason, TaskPolicies

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
S = 1_000_000
SUCCESS, FINISHED = DependencyTrigger.SUCCESS, DependencyTrigger.FINISHED


def at(minutes: float) -> datetime:
    return NOON + timedelta(minutes=minutes)


def test_serialised_runs_start_at_their_fire_time_or_the_previous_expected_end() -> None:
    # Seconds: runs of 150 s fired at 0, 60 and 600 s, then at 0, 60 and 120 s.
    assert serialised_starts([(0, 150), (60, 150), (600, 150)]) == [0, 150, 600]
    assert serialised_starts([(0, 150), (60, 150), (120, 150)]) == [0, 150, 300]


def test_an_ordering_keys_tasks_serialise_together_in_scheduled_order() -> None:
    report, sync = PlannedRun(1, "report", at(0)), PlannedRun(2, "sync", at(0))
    late = PlannedRun(1, "report", at(1))
    compute = {"report": 120_000, "sync": 60_000}
    # Ties by task id: the report first, then the sync after its 2 minutes, then the report.
    assert serialised_moves([[late, sync, report]], compute) == {report: at(0), sync: at(2), late: at(3)}


def test_a_keyed_skip_tasks_fire_times_due_while_its_run_holds_or_waits_for_the_key_are_skipped() -> None:
    # Seconds, runs of 100 s: task 1 (skip) at 0, 60 and 150, task 2 at 10.
    assert starts_in_key([(0, 100, 1), (10, 100, None), (60, 100, 1), (150, 100, 1)]) == [0, 100, None, 200]
    # Waiting its turn counts: task 2 holds the key until 100, task 1's 20 waits, its 60 is skipped.
    assert starts_in_key([(0, 100, None), (20, 100, 1), (60, 100, 1)]) == [0, 100, None]
    # Without a skip task, the key only serialises.
    assert starts_in_key([(0, 100, None), (20, 100, None)]) == [0, 100]


def test_the_forecast_leaves_out_a_keyed_skip_tasks_expected_skips() -> None:
    skip = [PlannedRun(1, "sync", at(m)) for m in range(5)]
    other = PlannedRun(2, "report", at(0.5))
    compute = {"sync": 60_000, "report": 120_000}
    starts = serialised_moves([[*skip, other]], compute, skip_tasks={1})
    # sync 12:00-12:01, report 12:01-12:03; sync's 12:01 waits for it (12:03-12:04), so 12:02
    # (12:01 waits) and 12:03 (12:01 runs) are skipped, and 12:04 runs at once.
    assert starts == {
        skip[0]: at(0),
        other: at(1),
        skip[1]: at(3),
        skip[2]: None,
        skip[3]: None,
        skip[4]: at(4),
    }
    counts = {(at(m), "sync"): 1 for m in range(5)} | {(at(0), "report"): 1}
    assert counts_with_policies(counts, [[*skip, other]], [], {}, compute, at(10), skip_tasks={1}) == {
        (at(0), "sync"): 1,
        (at(1), "report"): 1,
        (at(3), "sync"): 1,
        (at(4), "sync"): 1,
    }


def test_a_chain_follows_each_upstream_run_by_the_expected_durations() -> None:
    a = PlannedRun(1, "extract", at(0))
    dependents = {1: [(2, "load")], 2: [(3, "report")]}
    compute = {"extract": 60_000, "load": 30_000}
    found = dependent_starts({a: at(0)}, dependents, compute, end=at(60))
    assert [(run.task_id, start) for run, start in found] == [(2, at(1)), (3, at(1.5))]
    # The window ends before the report would start: only the load is expected.
    assert [run.task_id for run, _ in dependent_starts({a: at(0)}, dependents, compute, end=at(1.5))] == [2]


def test_counts_move_with_queued_runs_and_gain_the_dependents() -> None:
    queued = [PlannedRun(1, "sync", at(m)) for m in (0, 1, 2)]
    counts = {(at(0), "sync"): 1, (at(1), "sync"): 1, (at(2), "sync"): 1}
    compute = {"sync": 150_000, "load": 10_000}
    moved = counts_with_policies(counts, [queued], [], {}, compute, end=at(3))
    # 12:00 runs at once, 12:01 waits until 12:02:30, 12:02 until 12:05, beyond the window.
    assert moved == {(at(0), "sync"): 1, (at(2), "sync"): 1}
    # A task after the queued one follows each run's expected end, as moved.
    with_load = counts_with_policies(counts, [queued], queued, {1: [(7, "load")]}, compute, end=at(10))
    assert with_load == {
        (at(0), "sync"): 1,
        (at(2), "sync"): 1,
        (at(5), "sync"): 1,
        (at(2), "load"): 1,  # 12:00 + 150 s
        (at(5), "load"): 1,  # 12:02:30 + 150 s
        (at(7), "load"): 1,  # 12:05 + 150 s, 12:07:30
    }


def test_without_policies_or_dependents_the_counts_stay() -> None:
    counts = {(at(0), "sync"): 3}
    assert counts_with_policies(counts, [], [], {}, {"sync": 1_000}, end=at(60)) == counts


def test_a_run_ends_after_its_attempts_and_the_backoffs_between_them() -> None:
    # Attempts of 2, 3 and 1 s with a 1 s base: 2 + 1 + 3 + 2 + 1 = 9 s after the start.
    assert final_end_us(5 * S, Attempts((2 * S, 3 * S, 1 * S), False), 1_000, 300_000) == 14 * S
    assert final_end_us(5 * S, Attempts((2 * S,)), 1_000, 300_000) == 7 * S


def test_a_run_that_failed_for_good_sets_off_only_the_finished_dependents() -> None:
    # Task 1 at 0 fails twice (60 s each, 1 s backoff): its end is 121 s.
    failed = Attempts((60 * S, 60 * S), succeeded=False)
    dependents = {1: [(2, SUCCESS), (3, FINISHED)]}
    runs = chain_runs([(0, 1)], dependents, lambda task: failed, 3_600 * S, backoff_ms=(1_000, 300_000))
    assert [(run.task, run.start_us, run.upstream) for run in runs] == [(1, 0, None), (3, 121 * S, 0)]
    assert runs[0].attempts == failed and runs[1].attempts is None  # task 3 has no dependents
    succeeded = chain_runs([(0, 1)], dependents, lambda task: Attempts((60 * S,)), 3_600 * S)
    assert [(run.task, run.start_us) for run in succeeded] == [(1, 0), (2, 60 * S), (3, 60 * S)]


def test_a_chain_follows_final_ends_and_stops_at_the_window_end() -> None:
    # 1 -> 2 -> 3, each 60 s and succeeding: 2 at 60 s, 3 at 120 s; a window of 100 s keeps 2 only.
    dependents = {1: [(2, SUCCESS)], 2: [(3, FINISHED)]}
    ones = chain_runs([(0, 1)], dependents, lambda task: Attempts((60 * S,)), 3_600 * S)
    placed = [(run.task, run.start_us, run.upstream) for run in ones]
    assert placed == [(1, 0, None), (2, 60 * S, 0), (3, 120 * S, 1)]
    short = chain_runs([(0, 1)], dependents, lambda task: Attempts((60 * S,)), 100 * S)
    assert [run.task for run in short] == [1, 2]


def test_a_dependent_under_an_ordering_key_waits_for_the_keys_runs_and_holds_them() -> None:
    # Task 1 (key k, 60 s) at 0 and 90 s; task 2 after it, also under k (60 s), due at 60 s:
    # 2 runs 60-120 s, so 1's second run waits until 120 s, and sets off 2 again at 180 s.
    keys = {1: "k", 2: "k"}
    runs = chain_runs(
        [(0, 1), (90 * S, 1)], {1: [(2, SUCCESS)]}, lambda task: Attempts((60 * S,)), 3_600 * S, keys
    )
    assert [(run.task, run.start_us) for run in runs] == [(1, 0), (2, 60 * S), (1, 120 * S), (2, 180 * S)]


def test_a_keyed_run_holds_its_key_until_its_last_attempt_ends() -> None:
    # Task 1 (key k) at 0 fails a 60 s attempt and succeeds a 30 s one after the 1 s backoff:
    # it holds k until 91 s. Task 2 (k) due at 10 s starts then.
    attempts = {1: Attempts((60 * S, 30 * S)), 2: Attempts((20 * S,))}
    runs = chain_runs(
        [(0, 1), (10 * S, 2)], {}, attempts.__getitem__, 3_600 * S, {1: "k", 2: "k"}, (1_000, 300_000)
    )
    assert [(run.task, run.start_us) for run in runs] == [(1, 0), (2, 91 * S)]


def test_a_run_keeps_when_it_was_due_however_long_its_key_held_it() -> None:
    # Task 1 (key k, 90 s) at 0 sets off task 3 (no key) at 90 s; task 2 (k, 30 s) due at
    # 60 s waits for k until 90 s. The engine counts their lags from 0, 60 and 90 s.
    attempts = {1: Attempts((90 * S,)), 2: Attempts((30 * S,)), 3: Attempts((10 * S,))}
    runs = chain_runs(
        [(0, 1), (60 * S, 2)], {1: [(3, FINISHED)]}, attempts.__getitem__, 3_600 * S, {1: "k", 2: "k"}
    )
    placed = [(run.task, run.due_us // S, run.start_us // S) for run in runs]
    assert placed == [(1, 0, 0), (2, 60, 90), (3, 90, 90)]


def test_a_keyed_task_decides_its_misfire_policy_when_the_key_frees() -> None:
    # Task 1 (key k, 150 s) at 0; task 2 (k, 30 s) due at 0, 60 and 120 s with a 20 s grace.
    # At 150 s all three of task 2's fire times wait, each past the grace.
    dues = [0, 60 * S, 120 * S]
    scheduled = [(0, 1)] + [(due, 2) for due in dues]
    attempts = {1: Attempts((150 * S,)), 2: Attempts((30 * S,))}
    keys = {1: "k", 2: "k"}

    def placed(misfire: MisfirePolicy) -> list[tuple[int, int, SkipReason | None]]:
        policies = TaskPolicies(misfire=misfire, misfire_grace_s=20)
        runs = chain_runs(scheduled, {}, attempts.__getitem__, 3_600 * S, keys, misfire={2: (policies, dues)})
        return [(run.task, run.start_us // S, run.skipped) for run in runs]

    # skip_missed: each is missed and holds nothing.
    assert placed(MisfirePolicy.SKIP_MISSED) == [
        (1, 0, None),
        (2, 0, SkipReason.MISSED),
        (2, 60, SkipReason.MISSED),
        (2, 120, SkipReason.MISSED),
    ]
    # run_latest: the latest waiting (120 s) runs at 150 s, the two before it are coalesced.
    assert placed(MisfirePolicy.RUN_LATEST) == [
        (1, 0, None),
        (2, 0, SkipReason.COALESCED),
        (2, 60, SkipReason.COALESCED),
        (2, 150, None),
    ]
