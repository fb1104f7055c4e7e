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
or past the window's end leave it. Each run keeps when it was due (its fire time, or its
upstream's end) for its start lag, however long its key held it. An unkeyed `queue` or `skip`
task is its own key, each copy apart (`place_alone`).

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.core.dependencies import DependencyTrigger
from engine.core.forecast_policies import Attempts, ChainedRun, chain_runs
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


def draw_run(workload: Workload, index: int, rng: np.random.Generator) -> Attempts:
    """One run of task `index`: its attempts as drawn (first duration, then
    `simulation.attempts.draw_attempts` with the task's own timeout and attempts), or one
    attempt of its type's mean, drawing nothing, for a type that cannot fail."""
    model = workload.attempts_of(index)
    name = workload.tasks[index].task_type
    duration = workload.types[name]
    if model is None or not model.can_fail:
        return Attempts((duration.mean_us,))
    first, later, failed = draw_attempts(rng, duration, model, duration.sample_us(rng, 1))
    return Attempts((int(first[0]), *later[0]), succeeded=not bool(failed[0]))


@dataclass(slots=True)
class Placed:
    """The runs of some tasks, by task index, each task's in due order: when each is due to
    start (`dues`), when its start lag counts from (`fires`: its fire time, or its upstream
    run's end, however long a policy or a key held it) and its attempts where they were drawn
    to place it (None: drawn later with the rest of its type)."""

    dues: dict[int, np.ndarray]
    fires: dict[int, np.ndarray]
    attempts: dict[int, list[Attempts | None]] = field(default_factory=dict)


def place_chains(
    workload: Workload,
    placed: Placed,
    window_us: int,
    rng: np.random.Generator,
    backoff_ms: tuple[int, int],
    held: int,
) -> list[tuple[int, SkipReason]]:
    """Move the due times of keyed tasks and give `after` tasks theirs, in `placed` (by task
    index; `after` tasks absent, scheduled ones due in `[0, window_us)`, each task's sorted),
    with their fire times and the attempts drawn for their runs; a run whose attempts `placed`
    already holds (an unkeyed `queue` or `skip` task's) keeps them. Returns the fire times of
    keyed tasks expected Skipped, with the reason."""
    tasks = workload.tasks
    dues = placed.dues
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
        return []
    _check_chain_sizes(tasks, dues, held)
    walked = sorted(index for index in set(keys) | set(dependents) if index in dues)
    # A task not keyed keeps its due times in the walk, so its runs come in that order.
    known = {index: iter(placed.attempts[index]) for index in walked if index in placed.attempts}

    def attempts_of(index: int) -> Attempts:
        drawn = next(known[index], None) if index in known else None
        return drawn if drawn is not None else draw_run(workload, index, rng)

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
    entries: dict[int, list[tuple[int, int, Attempts | None]]] = {index: [] for index in walked}
    entries.update((index, []) for index, task in enumerate(tasks) if task.after is not None)
    skipped: list[tuple[int, SkipReason]] = []
    for run in runs:
        if run.skipped is not None:
            skipped.append((run.start_us, run.skipped))
            continue
        model = workload.attempts_of(run.task)
        drawn = run.attempts if model is not None and model.can_fail else None
        entries[run.task].append((run.start_us, run.due_us, drawn))
    for index, runs_of in entries.items():
        if index in keys or tasks[index].after is not None:
            runs_of.sort(key=lambda entry: entry[0])
            dues[index] = np.array([start for start, _, _ in runs_of], dtype=np.int64)
            placed.fires[index] = np.array([due for _, due, _ in runs_of], dtype=np.int64)
        placed.attempts[index] = [drawn for _, _, drawn in runs_of]
    return skipped


def place_alone(
    task: TaskSpec,
    offsets: np.ndarray,
    attempts_of: Callable[[], Attempts],
    window_us: int,
    backoff_ms: tuple[int, int],
) -> list[ChainedRun]:
    """The runs of one copy of an unkeyed `overlap: queue` or `overlap: skip` task at its fire
    times `offsets`, each run in flight until its last attempt ends (`attempts_of()` for each
    run in turn; the engine's backoff between attempts), as the engine holds a task's next fire
    time behind a run that is `Queued`, `Running` or `Failed` with a retry on its way
    (`chain_runs`, the task its own key). A `queue` fire time starts at that end if later (one
    that waited past the grace of its `run_latest` or `skip_missed` policy is decided as the
    engine's `decide_claims` does then); a `skip` fire time before it is skipped "overlap".

    Example: fire times every minute, one attempt of 90 s each: `queue` starts 0 at 0, 60 s at
    90 s, 120 s at 180 s, ...; `skip` runs 0, skips 60 s, runs 120 s. With `skip_missed` and a
    10 s grace, `queue` runs 0, misses 60 s (30 s late at 90 s), runs 120 s, misses 180 s, ..."""
    skip = task.overlap is OverlapPolicy.SKIP
    waits = not skip and task.misfire is not MisfirePolicy.RUN_ALL
    misfire = {0: (task.policies, offsets.tolist())} if waits else None
    return chain_runs(
        [(offset, 0) for offset in offsets.tolist()],
        {},
        lambda _: attempts_of(),
        window_us,
        {0: "alone"},
        backoff_ms,
        {0: 1} if skip else None,
        misfire,
    )
