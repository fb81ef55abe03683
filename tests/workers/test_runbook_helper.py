"""workers/runbook_helper: the module Python runbooks import to write to the streams."""

import subprocess
import sys

from workers.sandbox import HELPER_DIR


def test_the_runbook_helper_prints_lines_the_agent_sorts_into_streams(tmp_path):
    parameters = tmp_path / "parameters.json"
    parameters.write_text('{"who": "world"}')
    code = (
        "import hybridworker_runbook as h\n"
        "h.write_output('hello ' + h.parameters()['who'])\n"
        "h.write_warning('a\\nb')\n"
        "h.write_verbose('v')\n"
        "h.write_progress(12.5)\n"
        "h.write_progress('phase 2')\n"
        "h.write_output([1, 2])\n"
        "h.write_error('oops')\n"
        "print(h.job_id(), h.sandbox())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(HELPER_DIR), "HYBRIDWORKER_PARAMETERS_FILE": str(parameters)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "hello world",
        "WARNING: a",
        "WARNING: b",
        "VERBOSE: v",
        "PROGRESS: 12.5%",
        "PROGRESS: phase 2",
        "[1, 2]",
        "None None",
    ]
    assert result.stderr == "oops\n"
