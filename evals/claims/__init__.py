"""The claims engine: claims as data, per-item measurements, paired statistics and three-valued verdicts."""
