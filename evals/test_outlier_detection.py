"""Outlier detection: does each embedder's cosine single out the word that does not belong to a set?"""

from embedders import Embedder
from evals.tasks.outlier_detection import outlier_detection
from fixtures import OutlierSets


def test_outlier_detection(embedder: Embedder, outlier_sets: OutlierSets, oov_policy, measure, judge) -> None:
    judge(measure(outlier_detection, embedder, outlier_sets, oov_policy))
