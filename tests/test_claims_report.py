"""A real (small) claims session writes its records as JSON Lines."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_claims_json_holds_every_comparison(tmp_path: Path) -> None:
    target = tmp_path / "claims.jsonl"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "evals/test_claims.py",
            "-k",
            "D4",
            "-p",
            "no:xdist",
            "-q",
            "--embedder",
            "glove-6b-50d,smollm2-135m",
            f"--claims-json={target}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["claim"] for r in records} == {"D4"}
    assert "smollm2-135m vs glove-6b-50d" in {r["comparison"] for r in records}
    for record in records:
        assert record["verdict"] in ("confirmed", "refuted", "inconclusive")
        assert record["low"] <= record["effect"] <= record["high"]
        assert record["statistics"]["resamples"] >= 1000 and record["dataset"]["sha256"]
    assert "Holm p" in result.stdout  # the terminal's claims table
