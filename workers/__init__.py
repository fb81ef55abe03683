"""The Hybrid Runbook Worker agent: the `hybridworker` command and its service loop.

This package runs on worker machines that have no server code: it depends on httpx, psutil
and the standard library only, never on Django or the automation/portal packages.
"""

from __future__ import annotations

__version__ = "0.1.0"
