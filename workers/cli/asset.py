"""`hybridworker asset`: the account's assets and child runbooks for Bash runbooks (and any other program), from
inside a running job:

    hybridworker asset get variable NAME [--json]       the value (a string as it is; anything else as JSON)
    hybridworker asset get credential NAME              {"username": ..., "password": ...}
    hybridworker asset get connection NAME              {"field": value, ...}
    hybridworker asset get certificate NAME             the PKCS#12 (exportable certificates only), base64
    hybridworker asset set variable NAME VALUE          VALUE is JSON when it parses as JSON, else a string
    hybridworker asset start-runbook NAME [--parameters JSON] [--run-on GROUP] [--wait]

It speaks to the job's relay (workers.job.assets) through automationassets, as Python runbooks do. Outside a
job it exits with status 2. Runbooks find it first on their PATH (workers.sandbox.write_tools); it imports only
the standard library on this path, since it may run with a Python that has nothing else.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from workers.cli.options import Parents
from workers.console import Console
from workers.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from workers.state import StateDir

NAME = "asset"
KINDS = ("variable", "credential", "connection", "certificate")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a JSON object, like {"Name": "value"}')
    return value


def add(commands: argparse._SubParsersAction, parents: Parents) -> None:
    # --state-dir as every command takes it; this one needs no state folder (it speaks to its job's relay).
    parser = commands.add_parser(
        NAME,
        parents=[parents.state_dir],
        help="read or set the account's assets, or start a child runbook, from inside a running job",
        description="Only inside a job run by a Hybrid Runbook Worker: the account's assets with the job's access.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = actions.add_parser("get", help="print an asset (a credential, connection as JSON)")
    get.add_argument("kind", choices=KINDS)
    get.add_argument("name")
    get.add_argument("--json", action="store_true", help="print a variable's value as JSON, a string quoted")
    put = actions.add_parser("set", help="set a variable's value")
    put.add_argument("kind", choices=("variable",))
    put.add_argument("name")
    put.add_argument("value", help='JSON (5, true, {...}, "quoted") or else taken as a string')
    start = actions.add_parser("start-runbook", help="start a published runbook of this account as a child job")
    start.add_argument("name")
    start.add_argument("--parameters", type=_json_object, default=None, metavar="JSON", help="a JSON object")
    start.add_argument("--run-on", metavar="GROUP", help="a hybrid worker group (default: this job's)")
    start.add_argument(
        "--wait", action="store_true", help="wait for the child to end; print its output, fail if it did not complete"
    )


def _text(value: Any, as_json: bool) -> str:
    if isinstance(value, str) and not as_json:
        return value
    return json.dumps(value, ensure_ascii=False)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def handle(args: argparse.Namespace, console: Console, state: StateDir) -> int:
    from workers.runbook_helper import automationassets as assets

    if not assets.inside_job():
        console.error(f"{assets.OUTSIDE_A_JOB} (HYBRIDWORKER_ASSETS_URL and HYBRIDWORKER_ASSETS_TOKEN are not set)")
        return EXIT_USAGE
    try:
        if args.action == "get":
            console.say(_get(assets, args.kind, args.name, args.json))
        elif args.action == "set":
            assets.set_automation_variable(args.name, _value(args.value))
        else:
            return _start(assets, args, console)
    except assets.AutomationAssetError as exc:
        console.error(str(exc))
        return EXIT_FAILED
    return EXIT_OK


def _get(assets: Any, kind: str, name: str, as_json: bool) -> str:
    if kind == "variable":
        return _text(assets.get_automation_variable(name), as_json)
    if kind == "credential":
        return json.dumps(assets.get_automation_credential(name), ensure_ascii=False)
    if kind == "connection":
        return json.dumps(assets.get_automation_connection(name), ensure_ascii=False)
    import base64

    return base64.b64encode(assets.get_automation_certificate(name)).decode("ascii")


def _start(assets: Any, args: argparse.Namespace, console: Console) -> int:
    result = assets.start_automation_runbook(args.name, args.parameters, args.run_on, wait=args.wait)
    if not args.wait:
        console.say(result)
        return EXIT_OK
    for line in result.get("output") or []:
        console.say(line)
    if result.get("status") != "Completed":
        reason = f": {result['status_reason']}" if result.get("status_reason") else ""
        console.error(f"child job {result.get('id')} ended {result.get('status')}{reason}")
        return EXIT_FAILED
    return EXIT_OK
