# Orchestrator.AssetManagement.Cmdlets: Azure Automation's asset cmdlets for runbooks on a Hybrid Runbook Worker.
#
# Azure's module of this name returns nothing on Linux workers; this one works on every worker that runs pwsh.
# The agent puts its folder first on the runbook's PSModulePath, so `Import-Module` in old runbooks finds it and
# new ones need not import it. Each cmdlet is one request to the job's relay in the agent
# ($env:HYBRIDWORKER_ASSETS_URL, with the job's token $env:HYBRIDWORKER_ASSETS_TOKEN), which works while the
# job runs and only then. The paths and bodies are those of workers/job/assets.py (a test reads them here).

Set-StrictMode -Version 3.0

$script:FinalStatuses = @('Completed', 'Failed', 'Stopped')

function Invoke-AssetRequest {
    param(
        [Parameter(Mandatory = $true)][string] $Method,
        [Parameter(Mandatory = $true)][string] $Path,
        $Body = $null,
        [int] $TimeoutSec = 60
    )
    if (-not $env:HYBRIDWORKER_ASSETS_URL -or -not $env:HYBRIDWORKER_ASSETS_TOKEN) {
        throw 'Automation assets can be used only inside a job run by a Hybrid Runbook Worker'
    }
    $request = @{
        Uri         = $env:HYBRIDWORKER_ASSETS_URL + $Path
        Method      = $Method
        Headers     = @{ Authorization = 'Bearer ' + $env:HYBRIDWORKER_ASSETS_TOKEN }
        ContentType = 'application/json'
        TimeoutSec  = $TimeoutSec
        # The relay is on this machine's loopback: a proxy set for the world must not carry the token.
        NoProxy     = $true
    }
    if ($null -ne $Body) {
        $request.Body = ConvertTo-Json -InputObject $Body -Depth 100 -Compress
    }
    try {
        Invoke-RestMethod @request
    }
    catch {
        # The relay and the server answer {"code", "detail"}: the detail is the message a person can act on.
        $answer = $null
        if ($_.ErrorDetails -and $_.ErrorDetails.Message) {
            try { $answer = $_.ErrorDetails.Message | ConvertFrom-Json } catch { $answer = $null }
        }
        if ($answer -and $answer.detail) { throw $answer.detail }
        throw
    }
}

function ConvertTo-PathSegment([string] $Name) {
    [uri]::EscapeDataString($Name)
}

function Get-AutomationVariable {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][string] $Name)
    (Invoke-AssetRequest -Method GET -Path "/variables/$(ConvertTo-PathSegment $Name)").value
}

function Set-AutomationVariable {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true, Position = 0)][string] $Name,
        [Parameter(Mandatory = $true, Position = 1)][AllowNull()] $Value
    )
    $null = Invoke-AssetRequest -Method PUT -Path "/variables/$(ConvertTo-PathSegment $Name)" -Body @{ value = $Value }
}

function Get-AutomationPSCredential {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][string] $Name)
    $answer = Invoke-AssetRequest -Method GET -Path "/credentials/$(ConvertTo-PathSegment $Name)"
    $password = ConvertTo-SecureString -String $answer.password -AsPlainText -Force
    New-Object System.Management.Automation.PSCredential($answer.username, $password)
}

function Get-AutomationConnection {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][string] $Name)
    $answer = Invoke-AssetRequest -Method GET -Path "/connections/$(ConvertTo-PathSegment $Name)"
    $fields = @{}
    foreach ($field in $answer.values.PSObject.Properties) { $fields[$field.Name] = $field.Value }
    $fields
}

function Get-AutomationCertificate {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][string] $Name)
    $answer = Invoke-AssetRequest -Method GET -Path "/certificates/$(ConvertTo-PathSegment $Name)"
    $bytes = [Convert]::FromBase64String($answer.pkcs12_base64)
    [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($bytes)
}

function Start-AutomationRunbook {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true, Position = 0)][string] $Name,
        [hashtable] $Parameters = @{},
        # Not [string]: PowerShell would turn a missing group into "", and the server takes null for "my group".
        $RunOn = $null
    )
    $answer = Invoke-AssetRequest -Method POST -Path "/children" -Body @{ runbook = $Name; parameters = $Parameters; run_on = $RunOn }
    $answer.id
}

function Wait-AutomationJob {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true, Position = 0)][string] $Id,
        [int] $TimeoutInSeconds = 0
    )
    $started = Get-Date
    while ($true) {
        $answer = Invoke-AssetRequest -Method GET -Path "/children/$(ConvertTo-PathSegment $Id)?wait=30" -TimeoutSec 90
        if ($script:FinalStatuses -contains $answer.status) { return $answer }
        if ($TimeoutInSeconds -gt 0 -and ((Get-Date) - $started).TotalSeconds -ge $TimeoutInSeconds) {
            throw "job $Id did not end within $TimeoutInSeconds seconds (it is $($answer.status))"
        }
    }
}

Export-ModuleMember -Function Get-AutomationVariable, Set-AutomationVariable, Get-AutomationPSCredential,
    Get-AutomationConnection, Get-AutomationCertificate, Start-AutomationRunbook, Wait-AutomationJob
