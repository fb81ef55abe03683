"""One job on this agent, from the server's hand-out to the report of its end, a module a job:

    payload     the job as the server hands it out, read defensively
    context     what every run of the service shares (client, settings, held leases)
    run         the run's phases: sandbox, check and launch, supervise, report the end
    process     the runbook's process group: its pipes and exit, and how it is ended
    reporting   ordered record batches and the end report, retried, cut smaller on HTTP 413
    outcome     how a job ended (status, exit code, reason)

The jobs task (workers.jobs) decides which jobs run; this package runs each one.
"""
