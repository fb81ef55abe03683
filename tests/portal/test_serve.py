"""portal.serve: daphne's access log without query strings (a webhook's URL carries its token there)."""

import io

from portal.serve import AccessLogWithoutQueries


def test_the_access_log_keeps_the_path_and_leaves_the_query_out():
    stream = io.StringIO()
    log = AccessLogWithoutQueries(stream)
    details = {"client": "203.0.113.7:5000", "method": "POST", "status": 202, "size": 40, "time_taken": 0.01}

    log("http", "complete", {**details, "path": "/webhooks/1f0c?token=s3cr3t-TOKEN"})
    log("http", "complete", {**details, "path": "/healthz"})

    written = stream.getvalue()
    assert "s3cr3t-TOKEN" not in written
    assert '"POST /webhooks/1f0c?…" 202' in written
    assert '"POST /healthz" 202' in written
