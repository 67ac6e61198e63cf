"""Session-wide: the secrets canary (tests/canary_plugin.py) watches the whole run."""

from __future__ import annotations

import pytest

from tests.canary_plugin import CanaryWatch


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("canary"):
        config.pluginmanager.register(CanaryWatch(config), "canary")
