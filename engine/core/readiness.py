"""Whether a long-running process is live and ready, from its loop's progress stamps and its
dependencies' answers. Pure: instants are monotonic seconds passed in.

- **Live** (`/livez`; an orchestrator restarts a process that is not): the loop has *tried*
  something within `stall_s`, successfully or not. A database outage is not a reason to
  restart: the loops retry by themselves, so liveness ignores the dependencies.
- **Ready** (`/readyz`; an orchestrator stops counting on a process that is not): the
  database and the broker answer now, and the loop *succeeded* within `stall_s`.

Both give the loop `stall_s` from the start of the process before it must have made its
first step. Worked example with `stall_s=60`, started at 0: at 30 with no step yet the
process is live and not ready ("no successful loop yet"); a success at 40 makes it ready
until 100; failures at 110 and 150 keep it live until 210 and not ready from 100 on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoopStamps:
    """Monotonic instants: when the process started, the loop last tried, last succeeded."""

    started_s: float
    attempted_s: float | None = None
    succeeded_s: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _age(since_s: float | None, started_s: float, now_s: float) -> float:
    return now_s - (started_s if since_s is None else since_s)


def liveness(stamps: LoopStamps, now_s: float, stall_s: float) -> Verdict:
    """Live unless the loop has tried nothing for longer than `stall_s`."""
    age = _age(stamps.attempted_s, stamps.started_s, now_s)
    if age > stall_s:
        return Verdict((f"loop: no step for {age:.0f} s (limit {stall_s:g} s)",))
    return Verdict(())


def readiness(
    stamps: LoopStamps,
    now_s: float,
    stall_s: float,
    database_problem: str | None,
    broker_problem: str | None,
) -> Verdict:
    """Ready when both dependencies answered (their problem is None) and the loop succeeded
    within `stall_s`; otherwise each reason, e.g. `("database: OperationalError",)`."""
    problems = []
    if database_problem is not None:
        problems.append(f"database: {database_problem}")
    if broker_problem is not None:
        problems.append(f"broker: {broker_problem}")
    if stamps.succeeded_s is None:
        problems.append("loop: no successful loop yet")
    else:
        age = now_s - stamps.succeeded_s
        if age > stall_s:
            problems.append(f"loop: no successful loop for {age:.0f} s (limit {stall_s:g} s)")
    return Verdict(tuple(problems))
