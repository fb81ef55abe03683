"""Benchmarks share the suite's servers and fixtures (tests/conftest.py); here only what a benchmark adds."""

import importlib.util
import logging
import sys

import pytest


@pytest.fixture(autouse=True)
def quiet_http_client_logs():
    """httpx logs every request at INFO: thousands of lines, and CPU the load generator should not spend."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def no_sniffio_lookups(monkeypatch):
    """httpcore's async pool imports sniffio on every lock it makes; without sniffio installed each try walks
    sys.path (and pytest's import hook) again: measured at a third of the load generator's CPU. A None in
    sys.modules makes that import fail at once, and httpcore then uses asyncio as it would anyway."""
    if importlib.util.find_spec("sniffio") is None:
        monkeypatch.setitem(sys.modules, "sniffio", None)
