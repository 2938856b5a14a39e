"""Word analogies by vector arithmetic, under both candidate-vocabulary protocols."""

import pytest

from embedders import Embedder
from evals.tasks.analogy import METHODS, NotApplicable, analogy
from fixtures import Analogies


# the vocabulary is generated with the embedder (harness/plugin.py): open vocabulary only where it has a word list
@pytest.mark.parametrize("method", METHODS)
def test_analogy(
    embedder: Embedder, analogies: Analogies, vocabulary, method, oov_policy, open_vocabulary_size, measure, judge
) -> None:
    try:
        measurement = measure(analogy, embedder, analogies, method, vocabulary, oov_policy, open_vocabulary_size)
    except NotApplicable as reason:
        pytest.skip(str(reason))
    judge(measurement)
