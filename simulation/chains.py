"""Ordering keys and `after` tasks in a simulated window: which runs they add or move, and the
attempts drawn for an upstream whose type can fail.

The walk is the forecast's (`engine.core.forecast_policies.chain_runs`), in due order: the runs
of the tasks sharing an `ordering_key` follow each other (an `after` task's runs too, as they
become due), each holding the key until its last attempt is expected to end, and a keyed
`overlap: skip` task's due time at which its previous run still holds or waits for the key is
skipped; a keyed `run_latest` or `skip_missed` task's due time that waited for the key past its
grace is coalesced or missed, as the engine decides it. A run ends when its last attempt is
expected to end, given its attempts' run times and the engine's backoff between them (queueing
for a processor is not counted), and each dependent whose `on` its outcome meets (`success`:
its last attempt succeeded; `finished`: either) is due then, down a chain. Runs due or moved at
or past the window's end leave it.

The attempts of an upstream run, or of a keyed one, decide its dependents and how long it holds
its key, so they are drawn while the chain is walked, for that run alone (first duration, then
`simulation.attempts.draw_attempts`, with the task's own `timeout_s` and `max_attempts`); the
caller keeps them as the run's attempts. A run of a type that cannot fail is one attempt of its
type's mean and draws nothing, so a workload without failures draws exactly what it drew before.

Example: `load` after `extract` (60 s, `failure_probability: 1`, `max_attempts: 2`, a 1 s
backoff base) at 0: `extract` ends at 60 + 1 + 60 = 121 s; `load` with `on: finished` is due
then, with `on: success` never.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.core.dependencies import DependencyTrigger
from engine.core.forecast_policies import Attempts, chain_runs
from engine.core.policies import MisfirePolicy, OverlapPolicy, SkipReason
from simulation.attempts import draw_attempts
from simulation.limits import check_size
from simulation.workload import TaskSpec, Workload


def _dependents(tasks: Sequence[TaskSpec]) -> dict[int, list[tuple[int, DependencyTrigger]]]:
    """Each upstream's dependents, one entry per copy (`count`)."""
    dependents: dict[int, list[tuple[int, DependencyTrigger]]] = {}
    for index, task in enumerate(tasks):
        if task.after is not None:
            dependents.setdefault(task.after, []).extend([(index, task.on)] * task.count)
    return dependents


def _check_chain_sizes(tasks: Sequence[TaskSpec], dues: dict[int, np.ndarray], held: int) -> None:
    """Refuse chains that could outgrow a run (`held` tasks so far), counting every upstream run
    as setting off its dependents (a chain with a cycle is refused as parsed)."""
    most = {index: len(due) for index, due in dues.items()}
    waiting = [index for index, task in enumerate(tasks) if task.after is not None]
    while waiting:
        ready = [index for index in waiting if tasks[index].after in most]
        assert ready, "a dependency cycle"
        for index in ready:
            task = tasks[index]
            assert task.after is not None
            most[index] = most[task.after] * task.count
            held = check_size(held, most[index], index, task.name)
            waiting.remove(index)


def place_chains(
    workload: Workload,
    dues: dict[int, np.ndarray],
    window_us: int,
    rng: np.random.Generator,
    backoff_ms: tuple[int, int],
    held: int,
) -> tuple[dict[int, list[Attempts | None]], list[tuple[int, SkipReason]]]:
    """Move the due times of keyed tasks and give `after` tasks theirs, in `dues` (by task index;
    `after` tasks absent, scheduled ones due in `[0, window_us)`), each task's sorted. Returns,
    aligned with each task's due times, the attempts drawn for its runs (None: drawn later with
    the rest of its type), and the fire times of keyed tasks expected Skipped, with the reason."""
    tasks = workload.tasks
    mean_us = {name: model.mean_us for name, model in workload.types.items()}
    dependents = _dependents(tasks)
    keys = {index: task.ordering_key for index, task in enumerate(tasks) if task.ordering_key is not None}
    skip_copies = {
        index: task.count
        for index, task in enumerate(tasks)
        if task.ordering_key is not None and task.overlap is OverlapPolicy.SKIP
    }
    misfire = {
        index: (task.policies, np.unique(dues[index]).tolist())
        for index, task in enumerate(tasks)
        if task.ordering_key is not None and task.misfire is not MisfirePolicy.RUN_ALL and index in dues
    }
    if not dependents and not keys:
        return {}, []
    _check_chain_sizes(tasks, dues, held)
    walked = sorted(index for index in set(keys) | set(dependents) if index in dues)

    def attempts_of(index: int) -> Attempts:
        model = workload.attempts_of(index)
        name = tasks[index].task_type
        if model is None or not model.can_fail:
            return Attempts((mean_us[name],))
        duration = workload.types[name]
        first, later, failed = draw_attempts(rng, duration, model, duration.sample_us(rng, 1))
        return Attempts((int(first[0]), *later[0]), succeeded=not bool(failed[0]))

    runs = chain_runs(
        [(int(due), index) for index in walked for due in dues[index].tolist()],
        dependents,
        attempts_of,
        window_us,
        keys,
        backoff_ms,
        skip_copies,
        misfire,
    )
    placed: dict[int, list[tuple[int, Attempts | None]]] = {index: [] for index in walked}
    placed.update((index, []) for index, task in enumerate(tasks) if task.after is not None)
    skipped: list[tuple[int, SkipReason]] = []
    for run in runs:
        if run.skipped is not None:
            skipped.append((run.start_us, run.skipped))
            continue
        model = workload.attempts_of(run.task)
        drawn = run.attempts if model is not None and model.can_fail else None
        placed[run.task].append((run.start_us, drawn))
    attempts: dict[int, list[Attempts | None]] = {}
    for index, entries in placed.items():
        entries.sort(key=lambda entry: entry[0])
        dues[index] = np.array([start for start, _ in entries], dtype=np.int64)
        attempts[index] = [drawn for _, drawn in entries]
    return attempts, skipped


def place_queue(
    task: TaskSpec, offsets: np.ndarray, hold_us: int, window_us: int
) -> tuple[np.ndarray, list[tuple[int, SkipReason]]]:
    """When one copy of an `overlap: queue` task without a key starts its fire times `offsets`,
    each run holding the next for `hold_us` (its type's mean), and which it skips: a fire time
    that waited past the grace of its `run_latest` or `skip_missed` policy is decided as the
    engine's `decide_claims` does when the run before ends (`chain_runs`, the task its own key).
    Example: fire times every minute, runs of 90 s, `skip_missed` with a 10 s grace: 0 runs;
    60 s would start at 90 s, 30 s late: missed; 120 s runs; 180 s missed; ..."""
    misfire = {0: (task.policies, offsets.tolist())} if task.misfire is not MisfirePolicy.RUN_ALL else None
    runs = chain_runs(
        [(offset, 0) for offset in offsets.tolist()],
        {},
        lambda _: Attempts((hold_us,)),
        window_us,
        {0: "queue"},
        misfire=misfire,
    )
    starts = np.array([run.start_us for run in runs if run.skipped is None], dtype=np.int64)
    return starts, [(run.start_us, run.skipped) for run in runs if run.skipped is not None]
