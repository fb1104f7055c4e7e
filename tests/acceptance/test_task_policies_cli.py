"""`headway task add|edit|show` with scheduling policies, as users run them on SQLite: the
options reach the task, and a value or combination that cannot be accepted is refused in
one line naming the field, with exit code 2."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.test_cli import headway

pytestmark = pytest.mark.acceptance

ADD = ("task", "add", "--name", "report", "--type", "http")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('policies') / 'headway.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    return url


def test_policies_are_set_shown_and_edited(url: str) -> None:
    policies = ("--overlap", "skip", "--misfire", "run_latest", "--misfire-grace", "30", "--timeout", "5")
    added = headway(*ADD, "--cron", "*/5 * * * *", *policies, "--json", database_url=url, check=True)
    task = json.loads(added.stdout)
    assert [task[field] for field in ("overlap_policy", "misfire_policy", "misfire_grace_s")] == [
        "skip",
        "run_latest",
        30,
    ]
    shown = headway("task", "show", str(task["id"]), database_url=url, check=True).stdout
    assert "policies  overlap skip, misfire run_latest (grace 30 s), timeout 5 s" in shown
    edit = ("task", "edit", str(task["id"]), "--overlap", "queue", "--max-attempts", "1", "--json")
    edited = json.loads(headway(*edit, database_url=url, check=True).stdout)
    assert (edited["overlap_policy"], edited["timeout_s"], edited["max_attempts"]) == ("queue", 5, 1)


def test_an_ordering_key_is_set_and_shown(url: str) -> None:
    added = headway(*ADD, "--now", "--ordering-key", "billing", "--json", database_url=url, check=True)
    task = json.loads(added.stdout)
    assert task["ordering_key"] == "billing"
    shown = headway("task", "show", str(task["id"]), database_url=url, check=True).stdout
    assert "ordering key 'billing'" in shown


def test_an_ordering_key_goes_with_overlap_and_misfire_policies(url: str) -> None:
    keyed = ("--overlap", "skip", "--misfire", "run_latest", "--ordering-key", "billing", "--json")
    added = headway(*ADD, "--cron", "* * * * *", *keyed, database_url=url, check=True)
    task = json.loads(added.stdout)
    shown = headway("task", "show", str(task["id"]), database_url=url, check=True).stdout
    assert "overlap skip, misfire run_latest (grace 60 s, the default), ordering key 'billing'" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "* * * * *", "--overlap", "sometimes"], "overlap_policy: Input should be 'allow'"),
        (["--now", "--overlap", "skip"], "overlap_policy: overlap_policy is only for cron tasks"),
        (["--cron", "* * * * *", "--misfire-grace", "30"], "misfire_grace_s: misfire_grace_s needs"),
        (["--cron", "* * * * *", "--misfire", "skip_missed", "--misfire-grace", "-1"], "misfire_grace_s: "),
        (["--now", "--max-attempts", "0"], "max_attempts: Input should be greater than or equal to 1"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(url: str, args: list[str], message: str) -> None:
    result = headway(*ADD, *args, database_url=url)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_after_task_is_added_shown_and_a_cycle_refused_naming_after(url: str) -> None:
    upstream = json.loads(headway(*ADD, "--now", "--json", database_url=url, check=True).stdout)
    add = ("task", "add", "--name", "load", "--type", "http", "--after", str(upstream["id"]))
    added = json.loads(headway(*add, "--on", "finished", "--json", database_url=url, check=True).stdout)
    assert (added["kind"], added["after"]) == ("after", {"task_id": upstream["id"], "on": "finished"})
    shown = headway("task", "show", str(added["id"]), database_url=url, check=True).stdout
    assert f"schedule  after {upstream['id']} (finished)" in shown
    shown = headway("task", "show", str(upstream["id"]), database_url=url, check=True).stdout
    assert f"followed  by tasks {added['id']} (after)" in shown
    cycle = headway("task", "edit", str(upstream["id"]), "--after", str(added["id"]), database_url=url)
    assert cycle.returncode == 2
    assert f"after: task {added['id']} would close a dependency cycle" in cycle.stderr
    stopped = headway("task", "deactivate", str(upstream["id"]), database_url=url, check=True)
    assert f"its active dependent tasks {added['id']} are not triggered" in stopped.stderr
