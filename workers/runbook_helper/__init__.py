"""The folder the agent puts on the PYTHONPATH of Python runbooks: it holds `hybridworker_runbook`.

Nothing else belongs here: every module in this folder is importable by every Python runbook.
"""
