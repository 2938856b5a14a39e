"""Our packages, not PyPI's packages of the same names, are the ones imported."""

from pathlib import Path

import embedders
import evals
import fixtures
import harness
import ledger
import runtime

ROOT = Path(__file__).resolve().parent.parent


def test_our_packages_are_imported() -> None:
    for package in (embedders, fixtures, evals, harness, ledger, runtime):
        assert Path(package.__file__).resolve().parent.parent == ROOT, package.__file__
