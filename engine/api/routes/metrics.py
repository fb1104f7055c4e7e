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

from engine.api.deps import EngineDep, NowDep
from engine.services.metrics_snapshot import MetricsSnapshot, collect_metrics

router = APIRouter(tags=["operations"])


class SnapshotCollector(Collector):
    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        tasks = GaugeMetricFamily("headway_tasks", "Schedule rows by status", labels=["status"])
        for status, count in sorted(snapshot.tasks_by_status.items()):
            tasks.add_metric([status], count)
        yield tasks
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
            "Processors with a heartbeat in the last 30 seconds",
            value=snapshot.current_instances,
        )
        redriven = CounterMetricFamily(
            "headway_redriven_rows",
            "Rows the reconciliation drove on after they stopped moving, by kind of stall",
            labels=["kind"],
        )
        for kind, count in sorted(snapshot.redriven_by_kind.items()):
            redriven.add_metric([kind], count)
        yield redriven


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4.split(";")[0]: {"schema": {"type": "string"}}}}},
)
def get_metrics(engine: EngineDep, now: NowDep) -> Response:
    """Prometheus exposition: `headway_tasks{status}`, `headway_start_lag_seconds`,
    `headway_required_instances`, `headway_current_instances` and
    `headway_redriven_rows_total{kind}`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(collect_metrics(engine, now)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
