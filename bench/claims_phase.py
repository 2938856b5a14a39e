"""The claims phase of a warm default session: every comparison of evals/claims.toml over the embedders available
here, decided from cached vectors (no model work), timed in one process.

    .venv/bin/python bench/claims_phase.py [--cache-dir DIR]

Run a default session first (`make eval`) so the embedding cache holds every vector: the script refuses to
count model work as the claims phase (it reports forward calls; they must be 0). Besides the whole phase it
times, in the same run, each comparison's bootstrap with its own resampling units and with rows drawn as if
independent, and prints their ratio: what resampling the right units costs. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from embedders import EMBEDDERS
from evals.claims.metrics import METRICS
from evals.claims.resampling import Resampling
from evals.claims.run import ClaimRun
from evals.claims.spec import comparisons, correction_families, load_claims
from evals.claims.stats import paired_bootstrap
from harness.options import cache_settings
from runtime.session import Runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="the embedding cache (default: the suite's)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    mode, folder = cache_settings("ro", args.cache_dir)
    runtime = Runtime(mode, folder)
    try:
        measure(runtime)
    finally:
        runtime.close()


def measure(runtime: Runtime) -> None:
    settings, claims = load_claims()
    available = [e for e in EMBEDDERS.values() if e.unavailable_reason() is None]
    specs = [spec for claim in claims for spec in comparisons(claim, available, None)]
    run = ClaimRun(settings, specs, correction_families(claims, available), runtime.embedder, runtime.release)

    started = time.perf_counter()
    records = run.records()
    phase = time.perf_counter() - started
    calls = sum(u.model_calls for u in runtime.pool.usage.values())

    # the bootstrap alone, by metric: each comparison's own units vs rows drawn as if independent
    memos, _ = run.embed_everything()
    by_metric: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for spec in specs:
        record = records[spec.id]
        if record.effect is None:
            continue
        params = dict(spec.claim.params)
        if spec.anchor is not None:
            params["anchor"] = memos[spec.anchor.name]
        subject = METRICS[spec.claim.metric].score(memos[spec.subject.name], settings, **params)
        reference = METRICS[spec.claim.metric].score(memos[spec.reference.name], settings, **params)
        for column, resampling in enumerate((subject.resampling, Resampling.items(len(subject.resampling)))):
            begun = time.perf_counter()
            paired_bootstrap(
                subject.values, reference.values, subject.statistic, reference.statistic, resampling,
                sign=spec.claim.sign, margin=spec.claim.margin, resamples=settings.resamples, seed=settings.seed,
            )  # fmt: skip
            by_metric[spec.claim.metric][column] += time.perf_counter() - begun
    units, rows = (sum(v[i] for v in by_metric.values()) for i in (0, 1))
    print(
        json.dumps(
            {
                "comparisons": len(specs),
                "decided_or_measured": sum(1 for r in records.values() if r.effect is not None),
                "claims_phase_s": round(phase, 1),
                "model_forward_calls": calls,
                "bootstrap_units_s": round(units, 1),
                "bootstrap_rows_s": round(rows, 1),
                "units_over_rows": round(units / rows, 2) if rows else None,
                "by_metric_units_rows_s": {m: [round(a, 2), round(b, 2)] for m, (a, b) in sorted(by_metric.items())},
                "resamples": settings.resamples,
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
