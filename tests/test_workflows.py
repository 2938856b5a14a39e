"""Every GitHub workflow validates against GitHub's workflow schema and has no high or medium zizmor finding.

Both tools come from the dev extra (pinned in pyproject.toml) and run offline: check-jsonschema's schemas ship in
its package, zizmor runs with --offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
SERIOUS = ("High", "Medium")


@dataclass(frozen=True)
class Finding:
    audit: str
    severity: str
    description: str
    where: str


def pinned_version(package: str) -> str:
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pins = [spec.split("==", 1)[1] for spec in dev if spec.startswith(f"{package}==")]
    assert len(pins) == 1, f"pyproject.toml's dev extra pins {package} {len(pins)} times, expected once"
    return pins[0]


def find_tool(name: str) -> Path:
    """The console script installed next to the interpreter running the tests (CI's .venv), else one on PATH;
    missing fails in CI (set-up installs the dev extra) and skips elsewhere."""
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        reason = f"{name} is neither next to {sys.executable} nor on PATH: pip install 'embedding-claims[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # in CI a missing tool is a broken set-up, not a reason to skip
        pytest.skip(reason)
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout
    # findings depend on the version (new audits), so only the pinned one decides
    assert pinned_version(name) in version.split(), f"{found} is {version.strip()!r}, pyproject.toml pins another"
    return Path(found)


@pytest.fixture(scope="module")
def check_jsonschema() -> Path:
    return find_tool("check-jsonschema")


@pytest.fixture(scope="module")
def zizmor() -> Path:
    return find_tool("zizmor")


def schema_errors(tool: Path, workflow: Path) -> str | None:
    """check-jsonschema's report when the file breaks GitHub's workflow schema, None when it validates."""
    run = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(workflow)], capture_output=True, text=True
    )
    return None if run.returncode == 0 else run.stdout + run.stderr


def serious_findings(tool: Path, workflow: Path) -> list[Finding]:
    # no config and no ignore comments: what passes here passes every audit, not the ones left switched on
    flags = ["--offline", "--no-config", "--no-ignores", "--strict-collection", "--no-exit-codes", "--no-progress"]
    run = subprocess.run(
        [tool, *flags, "--format", "json", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"zizmor failed on {workflow}:\n{run.stderr}"
    return [
        Finding(
            audit=finding["ident"],
            severity=finding["determinations"]["severity"],
            description=finding["desc"],
            where=", ".join(  # the primary places; the others are context
                f"line {place['concrete']['location']['start_point']['row'] + 1}"
                for place in finding["locations"]
                if place["symbolic"]["kind"] == "Primary"
            ),
        )
        for finding in json.loads(run.stdout)
        if finding["determinations"]["severity"] in SERIOUS
    ]


def test_the_repository_has_workflows() -> None:
    assert WORKFLOWS, f"no workflow under {ROOT / '.github' / 'workflows'}: the checks below would check nothing"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_workflow_validates_against_githubs_schema(check_jsonschema: Path, workflow: Path) -> None:
    errors = schema_errors(check_jsonschema, workflow)
    assert errors is None, errors


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_workflow_has_no_high_or_medium_zizmor_finding(zizmor: Path, workflow: Path) -> None:
    findings = serious_findings(zizmor, workflow)
    assert not findings, "\n".join(
        f"{workflow.name} {f.where}: {f.severity} {f.audit}: {f.description}" for f in findings
    )


# The checks above must be able to fail: zizmor catches unpinned actions, credentials left in a checkout that is
# uploaded, and a write permission granted at workflow level to two jobs (with one job zizmor lets it pass, as that
# job is the only one it reaches); a workflow without `on:` breaks the schema.
UNSAFE = """\
name: unsafe
on: push
permissions:
  contents: write
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/upload-artifact@v4
        with:
          path: .
  report:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo done
"""


def test_the_schema_check_rejects_a_workflow_without_triggers(check_jsonschema: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "no-trigger.yml"
    workflow.write_text(UNSAFE.replace("on: push\n", ""))
    errors = schema_errors(check_jsonschema, workflow)
    assert errors is not None and "'on' is a required property" in errors


def test_zizmor_reports_unpinned_actions_broad_permissions_and_persisted_credentials(
    zizmor: Path, tmp_path: Path
) -> None:
    workflow = tmp_path / "unsafe.yml"
    workflow.write_text(UNSAFE)
    audits = sorted(finding.audit for finding in serious_findings(zizmor, workflow))
    assert audits == ["artipacked", "excessive-permissions", "unpinned-uses", "unpinned-uses"]
