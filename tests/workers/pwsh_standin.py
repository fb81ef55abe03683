"""A stand-in for `pwsh` that speaks Orchestrator.AssetManagement.Cmdlets' HTTP, for machines without PowerShell.

Real PowerShell cannot be installed here. This program is put on the agent's PATH as `pwsh`; given
`-File runbook.ps1`, it finds the module on PSModulePath as pwsh would (failing loudly when it is not there),
reads from the module's .psm1 which request each cmdlet makes (method, path, body, the header with the token:
`exchanges()`, which the tests also check against the relay's routes), and carries out the runbook's lines, one
cmdlet call a line (`Get-AutomationVariable -Name Plain`, `Wait-AutomationJob -Id $id`), printing each answer as
JSON. So the module's requests are exactly those the relay serves, and the two cannot drift apart silently.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MODULE = "Orchestrator.AssetManagement.Cmdlets"
FINAL = ("Completed", "Failed", "Stopped")
_FUNCTION = re.compile(r"^function ([\w-]+) \{\n(.*?)^\}", re.S | re.M)
_CALL = re.compile(r'Invoke-AssetRequest -Method (\w+) -Path "([^"]+)"(?: -Body @\{ ([^}]*) \})?')
_HEADER = re.compile(r"Headers\s*=\s*@\{ (\w+) = '([^']*)' \+ \$env:(\w+) \}")
_URL = re.compile(r"Uri\s*=\s*\$env:(\w+) \+ \$Path")
_SEGMENT = re.compile(r"\$\(ConvertTo-PathSegment \$(\w+)\)")


def exchanges(psm1: str) -> dict[str, tuple[str, str, dict[str, str] | None]]:
    """Each cmdlet's request: (method, path with `$(ConvertTo-PathSegment $Param)`, {body key: parameter})."""
    found = {}
    for name, body in _FUNCTION.findall(psm1):
        calls = _CALL.findall(body)
        if not calls:
            continue
        assert len(calls) == 1, f"{name} makes more than one kind of request"
        method, path, fields = calls[0]
        shape = None
        if fields:
            shape = {}
            for field in fields.split(";"):
                key, value = (part.strip() for part in field.split("="))
                shape[key] = value.lstrip("$")
        found[name] = (method, path, shape)
    return found


def transport(psm1: str) -> tuple[str, str, str, str]:
    """(URL variable, header name, header prefix, token variable) as the module's Invoke-AssetRequest has them."""
    (url,) = _URL.findall(psm1)
    ((header, prefix, token),) = _HEADER.findall(psm1)
    return url, header, prefix, token


def find_module() -> str:
    searched = os.environ.get("PSModulePath", "")  # noqa: SIM112 - pwsh's spelling
    entries = [entry for entry in searched.split(os.pathsep) if entry]
    for index, entry in enumerate(entries):
        manifest = os.path.join(entry, MODULE, f"{MODULE}.psd1")
        if os.path.isfile(manifest):
            with open(manifest, encoding="utf-8") as handle:
                (root,) = re.findall(r"RootModule\s*=\s*'([^']+)'", handle.read())
            print(f"module {MODULE} found in PSModulePath entry {index}")
            return os.path.join(entry, MODULE, root)
    print(f"module {MODULE} is not on PSModulePath {entries}", file=sys.stderr)
    sys.exit(3)


def argument(text: str, remembered: dict[str, str]):
    if text.startswith("$"):
        return remembered[text[1:]]
    try:
        return json.loads(text)
    except ValueError:
        return text


def call(psm1: str, cmdlet: str, arguments: dict):
    method, path, shape = exchanges(psm1)[cmdlet]
    url_variable, header, prefix, token_variable = transport(psm1)
    path = _SEGMENT.sub(lambda m: urllib.parse.quote(str(arguments[m[1]]), safe=""), path)
    body = None if shape is None else {key: arguments.get(parameter) for key, parameter in shape.items()}
    request = urllib.request.Request(
        os.environ[url_variable] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={header: prefix + os.environ[token_variable], "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=120) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        # As the module does: the answer's detail is the error.
        print(json.loads(exc.read())["detail"], file=sys.stderr)
        sys.exit(1)


def main() -> None:
    script = sys.argv[sys.argv.index("-File") + 1]
    with open(find_module(), encoding="utf-8") as handle:
        psm1 = handle.read()
    remembered: dict[str, str] = {}
    with open(script, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    for line in lines:
        target, _, line = line.partition(" = ") if line.startswith("$") else ("", "", line)
        cmdlet, *words = line.split()
        if cmdlet == "Import-Module":
            continue
        arguments = {words[i].lstrip("-"): argument(words[i + 1], remembered) for i in range(0, len(words), 2)}
        answer = call(psm1, cmdlet, arguments)
        while cmdlet == "Wait-AutomationJob" and answer["status"] not in FINAL:
            answer = call(psm1, cmdlet, arguments)
        if target:
            remembered[target.lstrip("$")] = answer["id"]
        print(json.dumps(answer, sort_keys=True))


if __name__ == "__main__":
    main()
