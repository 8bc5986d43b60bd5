"""requirements.txt (what Azure installs for this app) matches the library's declared dependencies."""

from __future__ import annotations

import tomllib

from tests.harness import ROOT


def requirement_lines() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_requirements_are_the_library_dependencies_with_the_azure_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = set(project["dependencies"])
    for extra in ("table", "redis", "identity", "monitor"):
        declared |= set(extras[extra])
    assert extras["azure"] == ["agentstream[table,redis,identity,monitor]"]
    assert requirement_lines() == declared


def test_every_requirement_has_an_upper_bound() -> None:
    assert [line for line in requirement_lines() if "<" not in line] == []
