from __future__ import annotations

import pytest

from tests.infra.stackmock import Stack, run


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The whole program, built once under mocks (a few seconds)."""
    return run()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mocked stacks build in seconds; a minute means something hangs (an Output never resolves)."""
    for item in items:
        if "tests/infra/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.timeout(120))
