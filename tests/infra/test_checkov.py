"""checkov over infra/: no failed check, no file it could not parse, a written reason for every skip.

checkov runs from its own venv (.venv-tools, made by `make test`) and offline: no guideline
download, no update check.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.infra.bicep import INFRA, ROOT

CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make test`, which installs requirements-tools.txt"
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    completed = subprocess.run(
        [str(CHECKOV), "--directory", str(INFRA), "--framework", "bicep", "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert completed.stdout, completed.stderr
    parsed: dict[str, Any] = json.loads(completed.stdout)
    return parsed


def test_checkov_parses_every_bicep_file(report):
    assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]
    checked = {c["file_path"] for kind in ("passed_checks", "skipped_checks") for c in report["results"][kind]}
    # Files holding a resource checkov has checks for; the others hold identities, monitoring and roles.
    for relative in ("/main.bicep", "/app/api.bicep", "/core/storage.bicep", "/core/keyvault.bicep"):
        assert relative in checked


def test_checkov_finds_no_failing_check(report):
    failed = [(c["check_id"], c["file_path"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 0


def test_every_skipped_check_has_a_written_reason(report):
    skipped = report["results"]["skipped_checks"]
    assert skipped and report["summary"]["skipped"] == len(skipped), report["summary"]
    for check in skipped:
        reason = check["check_result"]["suppress_comment"].strip()
        assert len(reason) >= 20 and reason != "No comment provided", (check["check_id"], check["resource"], reason)
