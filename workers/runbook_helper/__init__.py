"""The folder the agent puts on the PYTHONPATH of Python runbooks: `hybridworker_runbook` and `automationassets`.

Nothing else belongs here: every module in this folder is importable by every Python runbook. The `powershell`
folder is what the agent puts on a PowerShell runbook's PSModulePath (Orchestrator.AssetManagement.Cmdlets).
"""
