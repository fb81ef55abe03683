@{
    RootModule        = 'Orchestrator.AssetManagement.Cmdlets.psm1'
    ModuleVersion     = '1.0.0'
    GUID              = '5d2b9f3e-7c1a-4e8b-9a36-2f0c8d41b7e5'
    Author            = 'Hybrid Runbook Worker agent'
    Description       = 'Azure Automation asset cmdlets (variables, credentials, connections, certificates, child runbooks) for runbooks on a Hybrid Runbook Worker'
    PowerShellVersion = '7.0'
    FunctionsToExport = @(
        'Get-AutomationVariable',
        'Set-AutomationVariable',
        'Get-AutomationPSCredential',
        'Get-AutomationConnection',
        'Get-AutomationCertificate',
        'Start-AutomationRunbook',
        'Wait-AutomationJob'
    )
    CmdletsToExport   = @()
    VariablesToExport = @()
    AliasesToExport   = @()
}
