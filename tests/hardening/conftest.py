from __future__ import annotations

import pytest

from tests.hardening.test_render_property import FORWARDED


@pytest.fixture(scope="session")
def monkeypatch_env():
    """The forwarded variable set for the whole session (hypothesis reuses function-scoped fixtures badly)."""
    mp = pytest.MonkeyPatch()
    for k, v in FORWARDED.items():
        mp.setenv(k, v)
    yield
    mp.undo()
