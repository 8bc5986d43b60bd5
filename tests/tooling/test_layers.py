"""`make check` holds the library to its layers: each kind of violation, written into a copy of the
tree, fails the checker that guards it (import-linter's contracts, ruff's banned imports), and the
real tree passes both."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT

BIN = ROOT / ".venv" / "bin"
CLIENT = Path("clients") / "python" / "agentstream_client"


def copy_tree(tmp_path: Path) -> Path:
    """The library, the client and the configuration, where a test may break them."""
    tree = tmp_path / "tree"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "agentstream", tree / "agentstream", ignore=ignore)
    shutil.copytree(ROOT / CLIENT, tree / CLIENT, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def add_line(path: Path, line: str) -> None:
    """Put an import after the module's `from __future__` line, where any module may have one."""
    text = path.read_text()
    future = "from __future__ import annotations\n"
    assert future in text, path
    path.write_text(text.replace(future, future + line + "\n", 1))


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copies come first on the path: the checker reads them, not the installed packages.
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / CLIENT.parent}"}
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-logo", "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ruff_banned(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "--select", "TID251", "--output-format", "concise", "."],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_real_tree_keeps_every_contract() -> None:
    done = subprocess.run(
        [str(BIN / "lint-imports"), "--no-logo", "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    banned = ruff_banned(ROOT)
    assert banned.returncode == 0, banned.stdout


def test_an_unchanged_copy_keeps_every_contract(tmp_path: Path) -> None:
    # The copy is checked as it is first, so a failure below is the violation's, not the copy's.
    done = lint_imports(copy_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract", "shown"),
    [
        (
            "agentstream/log/events.py",
            "from ..http import errors",
            "The library is layered: each layer imports only the layers below it BROKEN",
            "agentstream.log is not allowed to import agentstream.http",
        ),
        (
            "agentstream/agent/turn.py",
            "from ..http.inputs import validate_id",
            "The library is layered: each layer imports only the layers below it BROKEN",
            "agentstream.agent is not allowed to import agentstream.http",
        ),
        (
            "agentstream/config.py",
            "from .log import events",
            "The library is layered: each layer imports only the layers below it BROKEN",
            "agentstream.config is not allowed to import agentstream.log",
        ),
        (
            # Within one layer only the cycle contract can see it: writer already imports events.
            "agentstream/log/events.py",
            "from . import writer",
            "No import cycles BROKEN",
            "No cycles are allowed in agentstream.log",
        ),
        (
            str(CLIENT / "sse.py"),
            "import agentstream",
            "The client does not import the server BROKEN",
            "agentstream_client.sse -> agentstream",
        ),
    ],
)
def test_import_linter_fails_on_each_violation(
    tmp_path: Path, module: str, line: str, contract: str, shown: str
) -> None:
    tree = copy_tree(tmp_path)
    add_line(tree / module, line)
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout + done.stderr
    assert contract in done.stdout
    assert shown in done.stdout


@pytest.mark.parametrize(
    "line", ["import azure.functions as func", "from azure.durable_functions import DurableOrchestrationClient"]
)
def test_ruff_refuses_the_functions_sdk_in_the_core(tmp_path: Path, line: str) -> None:
    tree = copy_tree(tmp_path)
    add_line(tree / "agentstream" / "http" / "handlers.py", line)
    # The same import is the Functions layer's to make.
    add_line(tree / "agentstream" / "functions" / "routes.py", line)
    done = ruff_banned(tree)
    assert done.returncode == 1
    assert [row.split(": ", 1)[0].rsplit(":", 2)[0] for row in done.stdout.splitlines() if "TID251" in row] == [
        "agentstream/http/handlers.py"
    ]
    assert "only agentstream/functions/ imports the" in done.stdout
