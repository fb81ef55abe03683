"""Benchmarks share the suite's servers and fixtures (tests/conftest.py); here only what a benchmark adds."""

import logging

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
