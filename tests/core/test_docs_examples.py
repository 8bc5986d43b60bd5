"""The code the README and docs/build-your-agent.md show runs as shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(path: Path) -> list[str]:
    return PYTHON_BLOCK.findall(path.read_text())


def run_outside_the_repository(tmp_path: Path, code: str) -> str:
    (tmp_path / "function_app.py").write_text(code)
    completed = subprocess.run(
        [sys.executable, "-c", "import function_app"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_the_readme_leads_with_an_app_that_builds(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = python_blocks(ROOT / "README.md")[0]
    assert readme.index(first_block) < readme.index("## This repository: two commands")
    check = (
        "\nimport json\n"
        "print(json.dumps([agent.info() for agent in app.agents]))\n"
        "assert [f.get_function_name() for f in app.get_functions() if f.get_function_name() == 'agent_run']\n"
    )
    printed = run_outside_the_repository(tmp_path, first_block + check)
    assert '"name": "support"' in printed and '"name": "lookup_order"' in printed


def test_the_guide_s_tool_example_has_the_schema_it_describes(tmp_path: Path) -> None:
    [example] = [block for block in python_blocks(ROOT / "docs" / "build-your-agent.md") if "async def ship(" in block]
    check = (
        "\nimport json\n"
        "spec = ship.spec()\n"
        "print(json.dumps(spec['parameters'], sort_keys=True))\n"
        "assert spec['description'] == 'Ship an order to an address.'\n"
        "assert 'context' not in spec['parameters']['properties']\n"
        "assert spec['parameters']['required'] == ['order_id', 'address']\n"
        "assert spec['parameters']['properties']['gift_note']['description'] == "
        "'A note printed on the packing slip.'\n"
    )
    run_outside_the_repository(tmp_path, example + check)
