"""The package `azd deploy` uploads holds the app and nothing else (.funcignore, gitignore syntax)."""

from __future__ import annotations

import subprocess

import pathspec

from tests.infra.bicep import ROOT

APP_ROOTS = ("agentstream/", "orchestrators/")
APP_FILES = {"function_app.py", "host.json", "requirements.txt"}
# Present on a developer's machine, never in git: local state, tools, azd's environment (secrets).
LOCAL_ONLY = [
    ".venv/lib/python3.11/site-packages/x.py",
    ".venv-tools/bin/checkov",
    "node_modules/azurite/dist/x.js",
    ".devhost/events.db",
    ".azure/dev/.env",
    ".azure/dev/config.json",
    "local.settings.json",
    "agentstream/__pycache__/config.cpython-311.pyc",
    ".pytest_cache/v/cache/nodeids",
]


def ignored_by_funcignore() -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [path for path in listed if (ROOT / path).is_file()]


def test_the_package_holds_the_app_code_and_host_files():
    spec = ignored_by_funcignore()
    packaged = {path for path in project_files() if not spec.match_file(path)}
    assert APP_FILES <= packaged
    app_code = {path for path in project_files() if path.startswith(APP_ROOTS)}
    assert app_code and app_code <= packaged, sorted(app_code - packaged)


def test_the_package_leaves_out_tests_tools_and_infrastructure():
    spec = ignored_by_funcignore()
    packaged = {path for path in project_files() if not spec.match_file(path)}
    assert packaged - APP_FILES == {path for path in packaged if path.startswith(APP_ROOTS)}


def test_local_state_tools_and_azd_secrets_never_reach_the_package():
    spec = ignored_by_funcignore()
    assert [path for path in LOCAL_ONLY if not spec.match_file(path)] == []
