"""Measurements travel from tests (on any xdist worker) to the controller's terminal summary as user properties."""

from __future__ import annotations

import json

import pytest

PROPERTY = "measurement"
HEADLINE_METRICS = ("spearman", "pearson", "accuracy")


def attach(item_properties: list[tuple[str, object]], record: dict[str, object]) -> None:
    item_properties.append((PROPERTY, json.dumps(record, sort_keys=True, default=str)))


def records_of(report: pytest.TestReport, prop: str = PROPERTY) -> list[dict]:
    """The JSON records a test attached under the user property ``prop`` (they cross xdist as strings)."""
    # a CollectReport (a module that failed to import) has no user properties
    return [json.loads(value) for name, value in getattr(report, "user_properties", ()) if name == prop]


def summary_lines(record: dict) -> list[str]:
    """Two lines that fit a 100-column terminal: the numbers, then what they depend on."""
    metrics = record["metrics"]
    scores = "  ".join(f"{name} {metrics[name]:.4f}" for name in HEADLINE_METRICS if name in metrics)
    embedder = record["embedder"]
    return [
        f"{embedder['name']:<16} {record['check']:<38} {scores}",
        f"{'':<16} {metrics['items_scored']}/{metrics['items_total']} items, coverage {metrics['coverage']:.1%}, "
        f"oov {record['protocol'].get('oov_policy')}, embedder {embedder['fingerprint']}, "
        f"data {record['dataset']['sha256'][:12]}",
    ]
