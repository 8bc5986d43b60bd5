"""`make test` sets up what the tests need, or says what to run; `make test-fast` needs none of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT

SCRIPT = ROOT / "scripts" / "system-packages"
# What the script looks for, on a machine that has none of it.
MISSING = (["chromium"] if not os.access("/usr/bin/chromium", os.X_OK) else []) + ["redis-server", "nodejs", "npm"]


def fake_bin(folder: Path, **scripts: str) -> Path:
    """A PATH of its own: bash, plus the named commands as small shell scripts."""
    folder.mkdir()
    (folder / "bash").symlink_to("/bin/bash")
    for name, body in scripts.items():
        command = folder / name.replace("_", "-")
        command.write_text(f"#!/bin/bash\n{body}\n")
        command.chmod(0o755)
    return folder


def run_script(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)], env={"PATH": str(path)}, capture_output=True, text=True, timeout=30
    )


def test_without_root_or_sudo_it_stops_at_once_with_the_command_to_run(tmp_path: Path) -> None:
    path = fake_bin(tmp_path / "bin", id="echo 1000", apt_get="echo apt-get must not run >&2; exit 9")
    done = run_script(path)
    assert done.returncode == 1
    expected = sorted(MISSING, key=["redis-server", "chromium", "nodejs", "npm"].index)
    assert f"sudo apt-get update && sudo apt-get install -y {' '.join(expected)}" in done.stderr
    assert "make test-fast" in done.stderr and "must not run" not in done.stderr


def test_as_root_it_installs_what_is_missing_with_apt_get(tmp_path: Path) -> None:
    calls = tmp_path / "apt-get.calls"
    path = fake_bin(tmp_path / "bin", id="echo 0", apt_get=f'echo "$*" >> {calls}', env='shift; "$@"')
    done = run_script(path)
    assert done.returncode == 0, done.stderr
    update, install = calls.read_text().splitlines()
    assert update == "update -qq"
    assert install.split()[:3] == ["install", "-y", "-qq"] and sorted(install.split()[3:]) == sorted(MISSING)


def test_without_apt_get_it_names_the_packages(tmp_path: Path) -> None:
    done = run_script(fake_bin(tmp_path / "bin", id="echo 0"))
    assert done.returncode == 1
    assert "Install them with your package manager" in done.stderr and "redis-server" in done.stderr


def test_ci_and_make_test_share_one_setup() -> None:
    assert "apt-get" not in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "test: system-packages " in makefile and "@scripts/system-packages" in makefile


def test_test_fast_selects_no_test_that_needs_node_redis_chromium_or_a_tool_venv() -> None:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not (node or redis or chromium or tools)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert ids and not [i for i in ids if "[table" in i or "[redis" in i or "-table" in i or "-redis" in i]
    needing = ("tests/web/test_chat_page.py", "tests/agui/test_http_agent.py", "tests/infra/test_checkov.py")
    assert not [i for i in ids if i.startswith(needing) or "test_table_store" in i or "agent_framework" in i]


def fast_tests() -> list[str]:
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    [line] = [line for line in makefile.splitlines() if line.startswith("FAST_TESTS :=")]
    return line.split(":=", 1)[1].split()


def test_every_test_has_one_kind_marker_and_every_kind_is_registered() -> None:
    from tests.conftest import KINDS, kind_of

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert KINDS == {"core", "client", "store", "e2e", "browser", "infra"}
    assert all(f'"{kind}: ' in pyproject for kind in KINDS)
    files = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("test_*.py"))
    assert len(files) > 50
    assert {kind_of(path) for path in files} == KINDS


def test_test_fast_runs_core_clients_docs_and_sqlite_e2e_only() -> None:
    paths = fast_tests()
    assert paths and all((ROOT / path).exists() for path in paths), paths
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "not (node or redis or chromium or tools)",
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert len(ids) > 100
    assert not [i for i in ids if "[table" in i or "[redis" in i or "-table" in i or "-redis" in i]
    assert {path.split("/")[1] for path in paths} == {"core", "client", "docs", "e2e"}
