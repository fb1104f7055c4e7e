"""The processor's inbox: nothing put is lost, and a wait interrupted by signals ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from engine.processes.inbox import Inbox


def test_items_from_many_producers_are_all_taken_in_each_producers_order() -> None:
    inbox: Inbox[tuple[int, int]] = Inbox()
    producers = [
        threading.Thread(target=lambda p=p: [inbox.put((p, i)) for i in range(5_000)]) for p in range(8)
    ]
    for producer in producers:
        producer.start()
    taken: list[tuple[int, int]] = []
    while len(taken) < 8 * 5_000:
        taken += inbox.take_all(timeout_s=1.0)
    for producer in producers:
        producer.join()
    assert inbox.take_all(timeout_s=0.0) == []
    for p in range(8):
        assert [i for q, i in taken if q == p] == list(range(5_000))


def test_an_empty_inbox_gives_nothing_after_the_timeout() -> None:
    inbox: Inbox[int] = Inbox()
    assert inbox.take_all(timeout_s=0.01) == []
    assert inbox.empty()
    inbox.put(7)
    assert not inbox.empty()
    assert inbox.take_all(timeout_s=0.01) == [7]


# A signal handled while the wait's timeout runs out made queue.SimpleQueue.get(timeout=...)
# wait forever (CPython 3.11): SIGTERM hung a stopping processor. Thousands of signals
# during short waits meet that instant within a second or two; the waits must all end.
PESTERED = textwrap.dedent(
    """
    import os, signal, threading, time
    from engine.processes.inbox import Inbox

    signal.signal(signal.SIGUSR2, lambda *_: None)
    def pester():
        while True:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.0003)
    threading.Thread(target=pester, daemon=True).start()
    inbox = Inbox()
    for _ in range(1_500):
        assert inbox.take_all(timeout_s=0.002) == []
    print("done")
    """
)


def test_waits_interrupted_by_signals_all_end() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", PESTERED], capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "done"
