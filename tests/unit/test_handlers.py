"""Handlers by name: built-ins and entry points."""

from __future__ import annotations

from typing import Any

import pytest

from engine.adapters import handlers as handlers_module
from engine.adapters.handlers import HandlerSettings, load_handlers, noop, registered_handler_names
from engine.core.execution import TaskContext, TaskFailed


class FakeEntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.value = f"plugin:{name}"
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_entry_points_add_handlers_and_a_broken_one_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def invoice(context: TaskContext) -> str:
        return f"invoice {context.idempotency_key}"

    plugins = [FakeEntryPoint("invoice", invoice), FakeEntryPoint("broken", ImportError("no module"))]
    monkeypatch.setattr(handlers_module, "entry_points", lambda group: plugins)
    handlers = load_handlers(HandlerSettings())
    assert set(handlers) == {"http", "reminder", "notification", "noop", "invoice"}
    assert handlers["invoice"](TaskContext(9, 1, "invoice", 1, 3, 5.0)) == "invoice 9"


def test_endpoint_handler_without_an_endpoint_fails_for_good() -> None:
    reminder = load_handlers(HandlerSettings())["reminder"]
    with pytest.raises(TaskFailed) as caught:
        reminder(TaskContext(1, 1, "reminder", 1, 3, 5.0))
    assert caught.value.outcome == "no_endpoint" and not caught.value.retryable


def test_registered_names_are_the_handlers_the_processor_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Task types are checked against the names; the processor runs what load_handlers gives.
    plugins = [FakeEntryPoint("invoice", noop), FakeEntryPoint("broken", ImportError("no module"))]
    monkeypatch.setattr(handlers_module, "entry_points", lambda group: plugins)
    names = registered_handler_names()
    assert names == {"http", "reminder", "notification", "noop", "invoice", "broken"}
    assert set(load_handlers(HandlerSettings())) == names - {"broken"}  # registered, fails to load
