"""Shared fixtures: an isolated home for settings/data, and the simulator over real HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers: replay, fakes

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own config/data/state dirs and no ZORAC_* leaking in from the shell."""
    import os

    for key in list(os.environ):
        if key.startswith("ZORAC_") and key != "ZORAC_TEST_BASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("ZORAC_OFFLINE", "1")  # tests never reach beyond 127.0.0.1 (no tiktoken download)
    home = tmp_path / "zorac-home"
    monkeypatch.setenv("ZORAC_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def collectable_after_each_test():
    """The app freezes what is alive once it connects (once per process); give it back to the collector
    after each test, so the test process does not keep every earlier test's objects."""
    yield
    import gc

    gc.unfreeze()


# End-to-end tests drive the app through tests/appdriver.py; `sim_factory(config=None, port=0, process=False,
# **overrides)` starts the simulator on 127.0.0.1 (fast by default) and stops it when the test ends.
import appdriver  # noqa: E402
from appdriver import sim_factory  # noqa: E402,F401


@pytest.fixture(autouse=True)
def apps_closed():
    """The apps a test made close their stores after it: their store threads end, and with them the last
    references to the app (a thread keeps the stderr it started with: the app's print capture)."""
    yield
    appdriver.close_apps()
