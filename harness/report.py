"""Records travel from tests (on any xdist worker) to the controller as user properties: JSON of the typed
records of evals/records.py, one property name per record type."""

from __future__ import annotations

import json

import pytest

from evals.records import ClaimRecord, MeasurementRecord

MEASUREMENT, CLAIM = "measurement", "claim"
HEADLINE_METRICS = ("spearman", "pearson", "accuracy", "opp")


def attach(item_properties: list[tuple[str, object]], record: MeasurementRecord | ClaimRecord) -> None:
    name = CLAIM if isinstance(record, ClaimRecord) else MEASUREMENT
    item_properties.append((name, json.dumps(record.to_json(), sort_keys=True, default=str)))


def _json_of(report: pytest.TestReport, name: str) -> list[dict]:
    # a CollectReport (a module that failed to import) has no user properties
    return [json.loads(value) for key, value in getattr(report, "user_properties", ()) if key == name]


def measurements_of(report: pytest.TestReport) -> list[MeasurementRecord]:
    return [MeasurementRecord.from_json(data) for data in _json_of(report, MEASUREMENT)]


def claims_of(report: pytest.TestReport) -> list[ClaimRecord]:
    return [ClaimRecord.from_json(data) for data in _json_of(report, CLAIM)]


def summary_lines(record: MeasurementRecord) -> list[str]:
    """Two lines that fit a 100-column terminal: the numbers, then what they depend on."""
    metrics = record.metrics
    scores = "  ".join(f"{name} {metrics[name]:.4f}" for name in HEADLINE_METRICS if name in metrics)
    embedder = record.embedder
    return [
        f"{embedder.name:<16} {record.check:<38} {scores}",
        f"{'':<16} {metrics['items_scored']}/{metrics['items_total']} items, coverage {metrics['coverage']:.1%}, "
        f"oov {record.protocol.get('oov_policy')}, embedder {embedder.fingerprint}, "
        f"data {str(record.dataset['sha256'])[:12]}",
    ]
