"""Every GitHub workflow validates against GitHub's workflow schema and has no high or medium zizmor finding; every
option it gives `python -m pytest` or another of our modules is one they accept; paper-scale.yml's shards reach the
merge side by side, and the merged folder is the deciding session's cache.

Both tools come from the dev extra (pinned in pyproject.toml) and run offline: check-jsonschema's schemas ship in
its package, zizmor runs with --offline.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import yaml

from embedders import EMBEDDERS
from runtime.store import DATABASE, EmbeddingStore, input_key

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


# ---------------------------------------------------------------- the commands the workflows run are real

PAPER_SCALE = ROOT / ".github" / "workflows" / "paper-scale.yml"
SHELL_OPERATORS = frozenset("();<>|&")
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
SHELL_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
Found = TypeVar("Found")


@dataclass(frozen=True)
class Command:
    """One `python -m MODULE ARGS` (or `pytest ARGS`) of a workflow's run step, split as bash splits it."""

    job: str
    step: str  # its name, for messages
    module: str
    arguments: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]  # the step's env, values as written (expressions unexpanded)

    @property
    def where(self) -> str:
        return f"{self.job} / {self.step}"

    @property
    def options(self) -> list[str]:
        return [word.split("=", 1)[0] for word in self.arguments if word.startswith("-") and len(word) > 1]

    def value(self, option: str) -> str:
        """The option's value with the step's variables replaced by what it sets them to (`${{ ... }}` as written)."""
        variables = dict(self.environment)
        for index, word in enumerate(self.arguments):
            if word == option and index + 1 < len(self.arguments):
                raw = self.arguments[index + 1]
            elif word.startswith(f"{option}="):
                raw = word.split("=", 1)[1]
            else:
                continue
            return SHELL_VARIABLE.sub(lambda found: variables.get(found[1] or found[2], found[0]), raw)
        raise AssertionError(f"{self.where}: python -m {self.module} is given no {option}")


def load_workflow(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    assert isinstance(workflow, dict), f"{path}: not a YAML mapping"
    return workflow


def steps_of(workflow: dict) -> list[tuple[str, dict]]:
    return [(job, step) for job, body in workflow["jobs"].items() for step in body.get("steps", [])]


def step_name(step: dict) -> str:
    return str(step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0])


def python_commands(script: str) -> list[tuple[str, tuple[str, ...]]]:
    """(module, arguments) of every `python -m MODULE` or `pytest` call in a shell script, up to the next operator."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        if not re.search(r"python3?\s+-m\s|(^|[\s/])pytest\s", line):
            continue  # only the lines that call Python are split: other shell syntax need not suit shlex
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for index, word in enumerate(words):
            if word.endswith(("python", "python3")) and words[index + 1 : index + 2] == ["-m"]:
                module, start = words[index + 2], index + 3
            elif (word == "pytest" or word.endswith("/pytest")) and words[index - 1 : index] != ["-m"]:
                module, start = "pytest", index + 1
            else:
                continue
            end = next(
                (i for i in range(start, len(words)) if words[i] and set(words[i]) <= SHELL_OPERATORS), len(words)
            )
            found.append((module, tuple(words[start:end])))
    return found


def workflow_commands(workflow: dict) -> list[Command]:
    return [
        Command(job, step_name(step), module, arguments, tuple((step.get("env") or {}).items()))
        for job, step in steps_of(workflow)
        if "run" in step
        for module, arguments in python_commands(step["run"])
    ]


@functools.cache
def accepted_options(module: str, target: str | None) -> frozenset[str]:
    """Every option `python -m MODULE [TARGET] --help` lists, from the repository root as the workflows run it (for
    pytest the suite's plugins included); only the options' own lines, not words in their descriptions."""
    command = [sys.executable, "-m", module, *([target] if target else []), "--help"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    shown = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, f"{' '.join(command[1:])} failed:\n{shown.stdout[-2000:]}{shown.stderr[-2000:]}"
    options: set[str] = set()
    for line in shown.stdout.splitlines():
        if re.match(r"  -", line):  # an option's line; wrapped descriptions are indented further
            specification = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            options.update(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", specification))
    # pytest's help lists, of long options equal but for dashes, only the longest (--junit-xml, not --junitxml)
    return frozenset(options | {dashless(option) for option in options if option.startswith("--")})


def unknown_options(workflow: dict) -> list[str]:
    unknown = []
    for command in workflow_commands(workflow):
        first = command.arguments[0] if command.arguments else None
        target = first if command.module == "pytest" and first and not first.startswith("-") else None
        accepted = accepted_options(command.module, target)
        unknown += [
            f"{command.where}: {command.module} has no {option}"
            for option in command.options
            if option not in accepted and dashless(option) not in accepted
        ]
    return unknown


def dashless(option: str) -> str:
    return option[:2] + option[2:].replace("-", "")


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_every_option_a_workflow_gives_our_commands_is_one_they_accept(workflow: Path) -> None:
    problems = unknown_options(load_workflow(workflow))
    assert not problems, "\n".join(problems)


def test_the_option_check_reports_a_renamed_option() -> None:
    renamed = PAPER_SCALE.read_text().replace("--fill-cache-only", "--fill-only")
    problems = unknown_options(yaml.safe_load(renamed))
    assert problems == ["shard / Fill the shard: pytest has no --fill-only"]


# ---------------------------------------------------------------- paper-scale: shards travel to the merge intact


def dispatch_input(workflow: dict, name: str) -> dict:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    return triggers["workflow_dispatch"]["inputs"][name]


def only(found: list[Found], what: str) -> Found:
    assert len(found) == 1, f"paper-scale.yml: expected one {what}, found {len(found)}"
    return found[0]


def fill_command(workflow: dict) -> Command:
    fills = [command for command in workflow_commands(workflow) if "--fill-cache-only" in command.arguments]
    return only(fills, "pytest command with --fill-cache-only")


def deciding_session(workflow: dict) -> Command:
    fill = fill_command(workflow)
    sessions = [command for command in workflow_commands(workflow) if command.module == "pytest" and command != fill]
    return only(sessions, "pytest command besides the fill")


def action_steps(workflow: dict, action: str) -> list[tuple[str, dict]]:
    return [(job, step) for job, step in steps_of(workflow) if str(step.get("uses", "")).startswith(f"{action}@")]


def with_matrix(text: str, embedder: str) -> str:
    """A value as the matrix job for ``embedder`` sees it; any other expression is left for the caller to refuse."""
    return EXPRESSION.sub(lambda found: embedder if found[1] == "matrix.embedder" else found[0], str(text))


def downloaded_shards(workflow: dict, embedders: list[str]) -> tuple[dict[str, Path], list[str]]:
    """Where the final job finds each embedder's database after the download, following the workflow's paths the
    way upload-artifact v4 roots an artifact at a single folder path (at its parent for a single file) and
    download-artifact extracts it (into PATH with merge-multiple, else into PATH/ARTIFACT_NAME); with the problems
    met on the way (a database outside the upload, an artifact the pattern misses, two shards on one path)."""
    fill = fill_command(workflow)
    upload_job, upload = only(
        [(job, step) for job, step in action_steps(workflow, "actions/upload-artifact") if job == fill.job],
        "upload-artifact step in the shard job",
    )
    download_job, download = only(action_steps(workflow, "actions/download-artifact"), "download-artifact step")
    problems = []
    needs = workflow["jobs"][download_job].get("needs", [])
    if upload_job not in ([needs] if isinstance(needs, str) else needs):
        problems.append(f"job {download_job} downloads the shards without needing job {upload_job}")
    landing: dict[str, Path] = {}
    for embedder in embedders:
        database = Path(with_matrix(fill.value("--cache-dir"), embedder)) / DATABASE
        uploaded, name = with_matrix(upload["with"]["path"], embedder), with_matrix(upload["with"]["name"], embedder)
        if "$" in f"{database}{uploaded}{name}" or any(mark in uploaded for mark in "*?[\n"):
            raise AssertionError(f"downloaded_shards models one plain upload path, not {uploaded!r} ({name!r})")
        root = Path(uploaded) if Path(uploaded) != database else database.parent
        if not database.is_relative_to(root):
            problems.append(f"{embedder}: the upload of {uploaded} does not hold the shard's {database}")
            continue
        if not fnmatch.fnmatchcase(name, download["with"].get("pattern", "*")):
            problems.append(f"{embedder}: artifact {name} does not match the download's pattern")
            continue
        folder = Path(download["with"]["path"]) / ("" if download["with"].get("merge-multiple") else name)
        place = folder / database.relative_to(root)
        clashing = [other for other, there in landing.items() if there == place]
        if clashing:
            problems.append(f"{embedder} and {clashing[0]}: both shards download to {place} and collide")
        landing[embedder] = place
    return landing, problems


def run_step(step: dict, folder: Path) -> subprocess.CompletedProcess[str]:
    """A run step as the runner runs it (bash -eo pipefail), in ``folder``, where .venv is this interpreter's."""
    environment = {str(key): str(value) for key, value in (step.get("env") or {}).items()}
    assert not any(EXPRESSION.search(value) for value in environment.values()), f"{step_name(step)}: env {environment}"
    script = folder / "step.sh"
    script.write_text(step["run"])
    run_environment = {**os.environ, **environment, "PYTHONPATH": str(ROOT)}  # our modules, not an installed copy
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    return subprocess.run(command, cwd=folder, env=run_environment, capture_output=True, text=True, timeout=300)


def test_paper_scale_fills_a_shard_per_embedder_it_is_given() -> None:
    workflow = load_workflow(PAPER_SCALE)
    embedders = json.loads(dispatch_input(workflow, "embedders")["default"])
    assert embedders and all(name in EMBEDDERS for name in embedders), embedders
    shard_job = workflow["jobs"][fill_command(workflow).job]
    assert shard_job["strategy"]["matrix"]["embedder"] == "${{ fromJSON(inputs.embedders) }}"
    assert shard_job["runs-on"] == "${{ fromJSON(inputs.runner) }}"
    assert fill_command(workflow).value("--embedder") == "${{ matrix.embedder }}"


def test_paper_scale_shards_download_side_by_side_and_the_merge_step_merges_them_into_the_deciding_cache(
    tmp_path: Path,
) -> None:
    workflow = load_workflow(PAPER_SCALE)
    embedders = json.loads(dispatch_input(workflow, "embedders")["default"])
    landing, problems = downloaded_shards(workflow, embedders)
    assert not problems, "\n".join(problems)
    # each shard as its fill leaves it: a store with that embedder's rows, where the download puts it
    for embedder, database in landing.items():
        store = EmbeddingStore((tmp_path / database).parent)
        store.put_vectors([(input_key(embedder, "words", "cat"), 1, np.full(4, len(embedder), dtype=np.float32))])
        store.close()
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the steps call .venv/bin/python, as set-up makes it
    # the final job's steps between the download and the deciding session, run as they are written
    decide_job, _ = only(action_steps(workflow, "actions/download-artifact"), "download-artifact step")
    merge = only([c for c in workflow_commands(workflow) if c.module == "runtime.merge"], "runtime.merge command")
    session = deciding_session(workflow)
    assert merge.job == session.job == decide_job
    steps = workflow["jobs"][decide_job]["steps"]
    start = next(i for i, step in enumerate(steps) if str(step.get("uses", "")).startswith("actions/download-artifact"))
    deciding = next(i for i, step in enumerate(steps) if step_name(step) == session.step)
    for step in steps[start + 1 : deciding]:
        if "run" in step:
            done = run_step(step, tmp_path)
            assert done.returncode == 0, f"{step_name(step)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    # the deciding session reads the folder the merge wrote, which holds every shard's rows
    assert session.value("--cache-dir") == merge.arguments[0]
    merged = EmbeddingStore(tmp_path / session.value("--cache-dir"), writable=False)
    try:
        for embedder in embedders:
            found = merged.get_vectors([input_key(embedder, "words", "cat")], 4)
            assert [vector[0] for _, vector in found.values()] == [len(embedder)], embedder
    finally:
        merged.close()


def test_paper_scale_fills_on_the_given_device_and_decides_on_the_cpu() -> None:
    # the deciding runner has no GPU: --device cuda would be refused there; the shards' vectors are found by recipe,
    # whatever device and dtype filled them (runtime/computation.py)
    workflow = load_workflow(PAPER_SCALE)
    fill, session = fill_command(workflow), deciding_session(workflow)
    for option in ("--device", "--dtype"):
        assert fill.value(option) == f"${{{{ inputs.{option[2:]} }}}}", option
        assert option not in session.arguments and not any(a.startswith(f"{option}=") for a in session.arguments)


def test_the_layout_check_reports_shards_that_would_collide() -> None:
    # uploading the shard's own folder roots the artifact there: every shard is a bare embeddings.sqlite3
    broken = PAPER_SCALE.read_text().replace("path: shards/\n", "path: shards/${{ matrix.embedder }}/\n")
    assert broken != PAPER_SCALE.read_text()
    _, problems = downloaded_shards(yaml.safe_load(broken), ["llama2-7b", "mistral-7b"])
    assert problems == [f"mistral-7b and llama2-7b: both shards download to shards/{DATABASE} and collide"]
