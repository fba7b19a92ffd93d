"""Fixtures shared by the integration tests."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import docker


@pytest.fixture
def container():
    """Start containers by a name this test gives them; remove them and their volumes after."""
    started: list[str] = []

    def run(image: str, *args: str, options: tuple[str, ...] = ()) -> str:
        name = f"dockyard-test-{uuid.uuid4().hex[:10]}"
        docker("run", "-d", "--name", name, *options, image, *args)
        started.append(name)
        return name

    yield run
    for name in started:
        docker("rm", "-f", "-v", name, check=False)
