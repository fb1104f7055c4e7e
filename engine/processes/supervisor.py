"""A child process kept running: `headway up` serves the dashboard this way.

The child is started in its own session, so a Ctrl-C in the terminal reaches `headway up`
alone, which then stops the child itself (SIGTERM, then SIGKILL after `STOP_GRACE_S`). A
child that dies is started again after a backoff of 1 s, doubled per death in a row, at most
`MAX_DELAY_S`; a child that ran `STABLE_AFTER_S` or longer starts the count afresh. After
`MAX_RESTARTS` deaths in a row the supervisor gives up and raises, which stops `headway up`
with a non-zero exit.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from engine.core.retry import compute_backoff_ms

log = logging.getLogger("headway.up")

MAX_RESTARTS = 5
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0
STOP_GRACE_S = 10.0
POLL_S = 0.5


class ChildFailed(RuntimeError):
    pass


def restart_delay_s(deaths: int) -> float:
    """Seconds before the next start after `deaths` deaths in a row: 1, 2, 4, ... at most
    `MAX_DELAY_S`. Example: `restart_delay_s(1) == 1.0`, `restart_delay_s(9) == 30.0`."""
    return compute_backoff_ms(max(deaths, 1), 1_000, round(MAX_DELAY_S * 1000)) / 1000


class Supervisor:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        delay_s: Callable[[int], float] = restart_delay_s,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = dict(env)
        self._clock = clock
        self._delay_s = delay_s
        self.child: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def run(self, stop: threading.Event) -> None:
        """Keep the child running until `stop`; ChildFailed after `MAX_RESTARTS` deaths in a row."""
        deaths = 0
        while not stop.is_set():
            started = self._clock()
            self.child = subprocess.Popen(
                self._command, env=self._env, stdout=subprocess.DEVNULL, start_new_session=True
            )
            self.starts += 1
            if self._wait_or_stop(self.child, stop):
                return
            code = self.child.returncode
            deaths = 1 if self._clock() - started >= STABLE_AFTER_S else deaths + 1
            if deaths > MAX_RESTARTS:
                raise ChildFailed(f"{self.name} exited with status {code} {deaths} times in a row; giving up")
            delay_s = self._delay_s(deaths)
            log.warning("%s exited with status %s; starting it again in %.0f s", self.name, code, delay_s)
            stop.wait(delay_s)

    def _wait_or_stop(self, child: subprocess.Popen[bytes], stop: threading.Event) -> bool:
        """Wait until the child exits (False) or `stop` is set, then stop the child (True)."""
        while True:
            try:
                child.wait(POLL_S)
                return False
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    self._stop_child(child)
                    return True

    def _stop_child(self, child: subprocess.Popen[bytes]) -> None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", self.name, STOP_GRACE_S)
            child.kill()
            child.wait()
