"""/metrics: Prometheus text, computed from the database at each scrape.

A fresh registry per scrape holds one collector over a snapshot, so several API processes
behind a load balancer report the same numbers and nothing lingers between scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.api.deps import ContextDep, NowDep
from engine.services.metrics_snapshot import MetricsSnapshot, collect_metrics
from engine.services.operations import OperationsSnapshot, collect_operations

router = APIRouter(tags=["operations"])


class SnapshotCollector(Collector):
    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        tasks = GaugeMetricFamily(
            "headway_tasks",
            "Schedule rows with work left, by status (Failed: waiting for a retry; Dead: not discarded)",
            labels=["status"],
        )
        for status, count in sorted(snapshot.tasks_by_status.items()):
            tasks.add_metric([status], count)
        yield tasks
        runs = CounterMetricFamily(
            "headway_task_runs",
            "Attempts recorded, by outcome (from the daily rollups, so pruning does not lower it)",
            labels=["outcome"],
        )
        for outcome, count in sorted(snapshot.runs_by_outcome.items()):
            runs.add_metric([outcome], count)
        yield runs
        yield HistogramMetricFamily(
            "headway_start_lag_seconds",
            "started_at - scheduled_time of the runs started in the last hour",
            buckets=[(_le(bound), count) for bound, count in snapshot.start_lag_buckets],
            sum_value=snapshot.start_lag_sum_s,
        )
        yield GaugeMetricFamily(
            "headway_required_instances",
            "Instances the current minute needs (scheduled_tasks_summary view)",
            value=snapshot.required_instances,
        )
        yield GaugeMetricFamily(
            "headway_current_instances",
            "Instances running now as the formula counts them: worker slots (concurrency added up) "
            "of the processors with a heartbeat in the last 30 seconds",
            value=snapshot.current_instances,
        )
        yield GaugeMetricFamily(
            "headway_live_processors",
            "Processors with a heartbeat in the last 30 seconds",
            value=snapshot.live_processors,
        )
        redriven = CounterMetricFamily(
            "headway_redriven_rows",
            "Rows the reconciliation drove on after they stopped moving, by kind of stall",
            labels=["kind"],
        )
        for kind, count in sorted(snapshot.redriven_by_kind.items()):
            redriven.add_metric([kind], count)
        yield redriven
        skipped = CounterMetricFamily(
            "headway_skipped_fire_times",
            "Fire times a scheduling policy recorded Skipped instead of running, by reason "
            "(overlap, coalesced, missed; docs/scheduling.md); pruning does not lower it",
            labels=["reason"],
        )
        for reason, count in sorted(snapshot.skipped_by_reason.items()):
            skipped.add_metric([reason], count)
        yield skipped


class OperationsCollector(Collector):
    """Gauges for alerting and autoscaling (deploy/prometheus/ names each of them)."""

    def __init__(self, snapshot: OperationsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        yield GaugeMetricFamily(
            "headway_overdue_tasks",
            "Scheduled rows due more than a minute ago that no Distributor has published",
            value=snapshot.overdue_rows,
        )
        yield GaugeMetricFamily(
            "headway_worker_slots",
            "Worker slots (concurrency) of the processors with a heartbeat in the last 30 seconds",
            value=snapshot.running_worker_slots,
        )
        yield GaugeMetricFamily(
            "headway_scaling_worker_slots",
            "Highest worker slots the forecast needs from now - cool-down to now + lead",
            value=snapshot.target.worker_slots,
        )
        yield GaugeMetricFamily(
            "headway_scaling_processors",
            "Processors to run now (what /scaling/processors returns with its defaults)",
            value=snapshot.target.processors,
        )
        coverage = GaugeMetricFamily(
            "headway_schedule_coverage_seconds",
            "How far ahead every active cron task has its rows (no sample without cron tasks)",
        )
        if snapshot.schedule_coverage_s is not None:
            coverage.add_metric([], snapshot.schedule_coverage_s)
        yield coverage
        yield GaugeMetricFamily(
            "headway_unscheduled_task_age_seconds",
            "How long the longest-waiting new or edited task has waited for a Scheduler pass",
            value=snapshot.unscheduled_age_s,
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4.split(";")[0]: {"schema": {"type": "string"}}}}},
)
def get_metrics(context: ContextDep, now: NowDep) -> Response:
    """Prometheus exposition: `headway_tasks{status}` (rows with work left),
    `headway_task_runs_total{outcome}`, `headway_start_lag_seconds`,
    `headway_required_instances`, `headway_current_instances` (worker slots, as the formula
    counts instances), `headway_live_processors`, `headway_redriven_rows_total{kind}`,
    `headway_skipped_fire_times_total{reason}`,
    and for alerts and autoscaling `headway_overdue_tasks`, `headway_worker_slots`,
    `headway_scaling_worker_slots`, `headway_scaling_processors`,
    `headway_schedule_coverage_seconds` and `headway_unscheduled_task_age_seconds`."""
    engine, scaling = context.engine, context.scaling
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(collect_metrics(engine, now)))
    registry.register(
        OperationsCollector(
            collect_operations(
                engine, now, scaling.lead_minutes, scaling.cooldown_minutes, scaling.concurrency
            )
        )
    )
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
