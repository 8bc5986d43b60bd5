from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.servers import CuttingProxy, serving
from tests.harness import Devhost


@pytest.fixture(scope="module")
def proxy(devhost: Devhost) -> Iterator[tuple[CuttingProxy, str]]:
    """A proxy in front of the module's devhost that cuts every stream after four events."""
    cutting = CuttingProxy(devhost.url, every=4)
    with serving(cutting.handler()) as url:
        yield cutting, url
