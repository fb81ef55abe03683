"""workers.cli.run: the options of `hybridworker run`, checked before the service starts."""

import pytest

from workers import cli


def test_run_refuses_a_python_that_does_not_exist_and_a_capacity_of_zero(tmp_path, capsys):
    assert cli.main(["run", "--python", "/nonexistent/python3", "--state-dir", str(tmp_path)]) == 1
    assert "--python /nonexistent/python3: no such executable" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--capacity", "0", "--state-dir", str(tmp_path)])
    assert exit_info.value.code == 2
