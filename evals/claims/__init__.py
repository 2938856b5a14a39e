"""The claims engine: claims as data, per-item measurements, paired statistics and three-valued verdicts."""

# importing the module registers the contextualized metrics (C1-C3) next to the decontextualized ones
from evals.claims import contextual  # noqa: F401
