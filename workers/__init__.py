"""The Hybrid Runbook Worker agent: the `hybridworker` command and its service loop.

`workers/` is the agent, the program that runs on a worker machine. (The word "worker" also names the
server's model, automation.models.HybridWorker: the server's record of one registered agent.) This
package runs on machines that have no server code: it depends on httpx, psutil and the standard library
only, never on Django or the automation/portal packages.

    cli/            the command line, a module a command (register, remove, run, status, diagnose,
                    install-service); registration, status, diagnose, systemd carry the commands out
    service         `run`: one service per state folder, its tasks in threads (see task for what a task is)
    heartbeat       the heartbeat task
    jobs            the jobs task: long-poll, run up to capacity, pass on stops
    job/            one job's run: payload, context, run (its phases), process, reporting, outcome
    leases          the jobs held under a lease, between the heartbeat and the jobs task
    sandbox, identity, outputcap, streams    what a runbook runs in, as whom, and its output as records
    client, network, backoff                 HTTP to the agent API
    state, facts, logs, console, errors      the state folder, host facts, logging, the terminal
    runbook_helper/ the module Python runbooks import
"""

from __future__ import annotations

__version__ = "0.1.0"
