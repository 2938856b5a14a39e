"""Tests that can never apply are not generated (open vocabulary without a word list, token-level claims without
token vectors); how many were left out, and why, is one line at the end of the session."""

from __future__ import annotations

import json

import pytest

# why -> how many tests were left out for it, as the collection that generated them counted
OMITTED = pytest.StashKey[dict[str, int]]()


def omit(config: pytest.Config, why: str, count: int) -> None:
    """Count tests that generation left out; ``why`` names them, e.g. "C3 comparisons (no token vectors)"."""
    if count:
        omitted = config.stash.setdefault(OMITTED, {})
        omitted[why] = omitted.get(why, 0) + count


def omitted_line(omitted: dict[str, int]) -> str | None:
    if not any(omitted.values()):
        return None
    return "not generated: " + ", ".join(f"{count} {why}" for why, count in omitted.items() if count)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker collected; the controller, which reports, did not
        workeroutput["not_generated"] = json.dumps(session.config.stash.get(OMITTED, {}))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    config = getattr(node, "config", None)
    raw = getattr(node, "workeroutput", {}).get("not_generated")
    if config is None or not raw:
        return
    # every worker collects the whole session, so each counted the same tests: one worker's count is the total
    omitted = config.stash.setdefault(OMITTED, {})
    for why, count in json.loads(raw).items():
        omitted[why] = max(omitted.get(why, 0), count)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    line = omitted_line(config.stash.get(OMITTED, {}))
    if line:
        terminalreporter.write_line(line)
