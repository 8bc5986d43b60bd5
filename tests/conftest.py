from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT, Devhost
from tests.stores.backends import BACKENDS, Backend

# The tests that prove the invariants on every backend: the store suite, and the end-to-end runs,
# resumes, cancels, crashes and outages. The rest (clients, pages, models, auth) are about the
# layers above the store and run on the embedded one, which keeps `make test` short.
EVERY_BACKEND = (
    "tests/stores/",
    "tests/e2e/test_run_stream.py",
    "tests/e2e/test_cancel.py",
    "tests/e2e/test_recovery_and_failures.py",
    "tests/e2e/test_store_outage.py",
    "tests/e2e/test_reconcile.py",
    "tests/e2e/test_multitask.py",
)
# The randomized kill rounds run on SQLite and Redis; Table storage gets the deterministic kills
# of test_reconcile.py, which keeps `make test` within its time.
KILL_ROUNDS_BACKENDS = {"tests/e2e/test_fault_injection.py": ["sqlite", "redis"]}


# What kind of test each folder holds, as a marker (see pyproject.toml), so `-m core`, `-m "e2e and
# not redis"` and the like pick tests by what they exercise. A file that is not of its folder's kind
# is named in KIND_BY_PATH.
KIND_BY_FOLDER = {
    "tests/core/": "core",
    "tests/client/": "client",
    "tests/stores/": "store",
    "tests/e2e/": "e2e",
    "tests/agui/": "e2e",
    "tests/aisdk/": "e2e",
    "tests/devhost/": "e2e",
    "tests/bench/": "e2e",
    "tests/web/": "browser",
    "tests/infra/": "infra",
    "tests/fidelity/": "infra",
    "tests/package/": "infra",
    "tests/tooling/": "infra",
    "tests/docs/": "infra",
}
KIND_BY_PATH = {
    "tests/web/test_static_files.py": "e2e",
    "tests/docs/test_first_ten_minutes.py": "e2e",
}
KINDS = frozenset(KIND_BY_FOLDER.values())

# What tests need beyond `make install`, as markers (see pyproject.toml): `make test` sets it all
# up and runs every test; `make test-fast` deselects the marked ones.
BACKEND_NEEDS = {"table": "node", "redis": "redis"}
BACKEND_FIXTURES = ("backend", "own_backend")
FIXTURE_NEEDS = {"browser": "chromium", "agent_framework_python": "tools", "table": "node"}
PATH_NEEDS = {"tests/agui/test_http_agent.py": "node", "tests/infra/test_checkov.py": "tools"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        path = metafunc.definition.path.relative_to(ROOT).as_posix()
        names = KILL_ROUNDS_BACKENDS.get(path) or (list(BACKENDS) if path.startswith(EVERY_BACKEND) else ["sqlite"])
        metafunc.parametrize("backend", names, indirect=True, scope="session")


def kind_of(path: str) -> str:
    """The kind marker of a test file, from KIND_BY_PATH or its folder."""
    if path in KIND_BY_PATH:
        return KIND_BY_PATH[path]
    folder = next((folder for folder in KIND_BY_FOLDER if path.startswith(folder)), None)
    if folder is None:
        raise pytest.UsageError(f"{path}: add its folder to KIND_BY_FOLDER in tests/conftest.py")
    return KIND_BY_FOLDER[folder]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(kind_of(item.path.relative_to(ROOT).as_posix()))
        fixtures = getattr(item, "fixturenames", ())
        needs = {need for fixture, need in FIXTURE_NEEDS.items() if fixture in fixtures}
        params = item.callspec.params if isinstance(item, pytest.Function) and hasattr(item, "callspec") else {}
        needs |= {BACKEND_NEEDS[params[f]] for f in BACKEND_FIXTURES if params.get(f) in BACKEND_NEEDS}
        if need := PATH_NEEDS.get(item.path.relative_to(ROOT).as_posix()):
            needs.add(need)
        for name in sorted(needs):
            item.add_marker(name)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """An event store backend, its server started once per session."""
    started = BACKENDS[request.param](tmp_path_factory.mktemp(f"backend-{request.param}"))
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Devhost]:
    """A devhost shared by a test module, with a fast demo model, on each backend."""
    host = Devhost(tmp_path_factory.mktemp("devhost") / "data", backend.new_env(), backend=backend).start()
    yield host
    host.stop()


@pytest.fixture
def make_devhost(tmp_path: Path, backend: Backend) -> Iterator[object]:
    """Devhosts with their own settings and a fresh store on the backend, stopped after the test."""
    started: list[Devhost] = []

    def make(env: dict[str, str] | None = None, name: str = "data") -> Devhost:
        host = Devhost(tmp_path / name, {**backend.new_env(), **(env or {})}, backend=backend).start()
        started.append(host)
        return host

    yield make
    for host in started:
        host.stop()
