"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tg_pipeline_tests.pg_warehouse import fresh_schema, fresh_warehouse_database

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_fixture(*parts: str) -> Path:
    """Path to a real sample export in ../shared/fixtures.

    On a user's fresh clone ../shared does not exist, so the test is skipped with a reason.
    In CI it must exist: a missing fixture there is a failure, never a silent skip.
    """
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared fixture missing in CI: {path}")
        pytest.skip(f"shared fixtures not present ({path}); they sit beside the repo in ../shared")
    return path


@pytest.fixture
def seed_dir() -> Path:
    """The HTML + JSON pair of one chat that the replaced Go service shipped with."""
    return shared_fixture("chatparser_seed")


@pytest.fixture
def samples_dir() -> Path:
    """Real and synthetic Telegram Desktop exports collected from public repositories."""
    return shared_fixture("telegram_samples")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One fresh database on the local PostgreSQL server for the test session (dropped at
    its end); skipped with the reason when no server answers, a failure in CI."""
    with fresh_warehouse_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A PostgreSQL warehouse URL of its own for one test: a fresh schema."""
    with fresh_schema(pg_database) as url:
        yield url


def pytest_configure(config: pytest.Config) -> None:
    """Start every process the way a terminal or compose does, with Ctrl-C at its default.

    A shell starts a background job (``make test &``, a runner's script) with SIGINT
    ignored, and an ignored signal stays ignored through ``exec``. Dagster's servers map
    SIGTERM onto SIGINT's handler, so each server a test starts would then ignore SIGTERM
    too and could only be killed. The processes a test starts inherit this handler."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long end-to-end tests first, so that with several workers none of them starts last
    and leaves the other workers idle; the rest keep their order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
