"""The agent's downloads: GET /agentsvc/install.sh and the wheel it installs (built from workers/ alone).

What install.sh does on a machine is proven end to end in tests/workers/test_install.py; here: what the
portal serves, and the script's refusals, run with /bin/sh against scripts the portal rendered.
"""

import ast
import hashlib
import io
import os
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from email.parser import BytesParser
from pathlib import Path

import pytest
from packaging.metadata import Metadata
from packaging.requirements import Requirement
from wheel.wheelfile import WheelFile

import workers
from automation import agent_package
from tests.support.postgres import free_port

# Not in the SQLite pass (no `sqlite` mark): nothing here reaches the suite's database.

BASE_DIR = Path(__file__).resolve().parents[3]
WORKERS = BASE_DIR / "workers"
HOST = "portal.example:8443"


@pytest.fixture
def portal(client, settings):
    settings.ALLOWED_HOSTS = ["portal.example", "127.0.0.1"]
    return client


def get(client, path: str, **headers):
    return client.get(path, headers={"Host": HOST, **headers})


def wheel_path() -> str:
    return f"/agentsvc/hybridworker-{workers.__version__}-py3-none-any.whl"


def script_value(script: str, name: str) -> str:
    line = next(line for line in script.splitlines() if line.startswith(f"{name}="))
    return line.split("=", 1)[1]


# ---- install.sh ------------------------------------------------------------------------


def test_install_sh_is_a_posix_shell_script_that_fetches_the_wheel_from_this_portal(portal):
    response = get(portal, "/agentsvc/install.sh")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/x-shellscript; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    script = response.content.decode()
    assert script.startswith("#!/bin/sh\n")
    checked = subprocess.run(["/bin/sh", "-n"], input=script, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    wheel = get(portal, wheel_path())
    assert script_value(script, "WHEEL_URL") == f"http://{HOST}{wheel_path()}"
    assert script_value(script, "WHEEL_SHA256") == hashlib.sha256(wheel.content).hexdigest()
    assert script.rstrip().endswith('main "$@"'), "a download cut short must run nothing"


def test_behind_a_trusted_tls_proxy_install_sh_names_https(portal, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's address: the proxy
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    script = get(portal, "/agentsvc/install.sh", **{"X-Forwarded-Proto": "https"}).content.decode()

    assert script_value(script, "WHEEL_URL") == f"https://{HOST}{wheel_path()}"


def test_without_the_proxy_setting_a_forwarded_scheme_is_not_believed(portal, settings):
    script = get(portal, "/agentsvc/install.sh", **{"X-Forwarded-Proto": "https"}).content.decode()
    assert script_value(script, "WHEEL_URL") == f"http://{HOST}{wheel_path()}"

    # Nor from a peer that is not a trusted proxy.
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    script = get(portal, "/agentsvc/install.sh", **{"X-Forwarded-Proto": "https"}).content.decode()

    assert script_value(script, "WHEEL_URL") == f"http://{HOST}{wheel_path()}"


def test_a_host_the_portal_does_not_answer_to_gets_a_json_400(portal):
    response = portal.get("/agentsvc/install.sh", headers={"Host": "evil.example"})

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/agentsvc/install.sh", wheel_path()])
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_the_downloads_answer_only_get_and_head(portal, path, method):
    response = getattr(portal, method)(path, headers={"Host": HOST})

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
    assert portal.head(path, headers={"Host": HOST}).status_code == 200


# ---- the wheel -------------------------------------------------------------------------


def served_wheel(portal) -> WheelFile:
    response = get(portal, wheel_path())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert int(response["Content-Length"]) == len(response.content)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"served-{os.getpid()}-{threading.get_ident()}"
    path.mkdir(exist_ok=True)
    target = path / wheel_path().rsplit("/", 1)[1]
    target.write_bytes(response.content)
    return WheelFile(target)


def test_the_wheel_holds_workers_and_nothing_of_the_server(portal):
    with served_wheel(portal) as wheel:
        names = set(wheel.namelist())
        for name in names:
            wheel.read(name)  # WheelFile checks each file against its RECORD hash while reading
        # Stored: deflate's bytes depend on the host's zlib, and every portal host must serve the same wheel.
        assert {entry.compress_type for entry in wheel.infolist()} == {zipfile.ZIP_STORED}
        shutil.rmtree(Path(wheel.filename).parent)

    sources = {
        f"workers/{p.relative_to(WORKERS).as_posix()}"
        for p in WORKERS.rglob("*")
        if p.suffix in (".py", ".psm1", ".psd1") and "__pycache__" not in p.parts
    }
    dist_info = f"hybridworker-{workers.__version__}.dist-info"
    assert names == sources | {
        f"{dist_info}/{n}" for n in ("METADATA", "WHEEL", "entry_points.txt", "top_level.txt")
    } | {f"{dist_info}/RECORD"}
    assert "workers/runbook_helper/hybridworker_runbook.py" in names
    assert "workers/runbook_helper/automationassets.py" in names
    module = (
        "workers/runbook_helper/powershell/Orchestrator.AssetManagement.Cmdlets/Orchestrator.AssetManagement.Cmdlets"
    )
    assert {f"{module}.psm1", f"{module}.psd1"} <= names, "the PowerShell module runbooks import goes with the agent"


def test_the_wheel_declares_the_agents_requirements_with_the_projects_pins_and_its_command(portal):
    with served_wheel(portal) as wheel:
        dist_info = wheel.dist_info_path
        metadata = Metadata.from_email(wheel.read(f"{dist_info}/METADATA"), validate=True)
        info = BytesParser().parsebytes(wheel.read(f"{dist_info}/WHEEL"))
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        shutil.rmtree(Path(wheel.filename).parent)

    pins = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    project = {Requirement(line).name: str(Requirement(line)) for line in pins}
    assert metadata.name == "hybridworker"
    assert str(metadata.version) == workers.__version__
    assert [str(r) for r in metadata.requires_dist] == [project["httpx"], project["psutil"]]
    assert str(metadata.requires_python) == ">={}.{}".format(*agent_package.MIN_PYTHON)
    assert info["Root-Is-Purelib"] == "true" and info["Tag"] == "py3-none-any"
    assert "[console_scripts]\nhybridworker = workers.cli:main\n" in entry_points


def imported_top_level_modules(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_the_wheel_requires_exactly_what_workers_imports_beyond_the_standard_library():
    outside = (
        imported_top_level_modules(WORKERS)
        - set(sys.stdlib_module_names)
        - {"workers", "hybridworker_runbook", "automationassets"}
    )

    assert outside == set(agent_package.AGENT_REQUIREMENTS)


def test_an_unknown_wheel_is_a_json_404_naming_the_one_served(portal):
    response = get(portal, "/agentsvc/hybridworker-0.0.1-py3-none-any.whl")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert f"hybridworker-{workers.__version__}-py3-none-any.whl" in response.json()["detail"]


def test_a_client_that_has_the_wheel_gets_304(portal):
    first = get(portal, wheel_path())

    again = get(portal, wheel_path(), **{"If-None-Match": first["ETag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert get(portal, wheel_path(), **{"If-None-Match": '"other"'}).status_code == 200


def test_every_build_of_the_same_source_gives_the_same_bytes(tmp_path):
    """So install.sh from one daphne process matches the wheel another one serves."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first = agent_package.build_wheel(tmp_path / "a").read_bytes()
    second = agent_package.build_wheel(tmp_path / "b").read_bytes()

    assert first == second
    assert first == agent_package.agent_wheel().data


def test_concurrent_first_requests_share_one_build(monkeypatch):
    monkeypatch.setattr(agent_package, "_built", None)
    start = threading.Barrier(8)
    results = []

    def fetch():
        start.wait()
        results.append(agent_package.agent_wheel())

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert all(result is results[0] for result in results)


# ---- install.sh's refusals -------------------------------------------------------------


@pytest.fixture
def install_sh(portal, tmp_path):
    """install.sh as served to a machine that reached the portal at 127.0.0.1:<a closed port>."""
    port = free_port()
    script = portal.get("/agentsvc/install.sh", headers={"Host": f"127.0.0.1:{port}"}).content
    path = tmp_path / "install.sh"
    path.write_bytes(script)
    return path


def tools_without_python(folder: Path) -> str:
    """A PATH with the commands install.sh needs before it looks for Python, and no python3."""
    folder.mkdir()
    for tool in ("uname", "id", "mktemp", "rm", "ls"):
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


def stand_in_python(folder: Path, *, version=(3, 8), venv=True) -> Path:
    """A python3 that says it is `version`, or lacks the venv module: it runs `-c CODE` with this one."""
    folder.mkdir(exist_ok=True)
    path = folder / "python3"
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.version_info = {(*version, 0, 'final', 0)!r}\n"
        "code = sys.argv[2]\n"
        f"if {not venv!r} and 'ensurepip' in code:\n"
        "    raise ModuleNotFoundError(\"No module named 'ensurepip'\")\n"
        "exec(compile(code, '-c', 'exec'))\n"
    )
    path.chmod(0o755)
    return path


def run_sh(script: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": path or os.environ["PATH"], "HOME": str(script.parent / "home")}
    return subprocess.run(
        ["/bin/sh", str(script), *args], env=env, cwd=script.parent, capture_output=True, text=True, timeout=120
    )


def refused(result: subprocess.CompletedProcess, message: str, prefix: Path) -> None:
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert result.stdout == ""
    assert not prefix.exists(), "a refused install leaves nothing behind"


def test_install_sh_without_python3_says_how_to_get_it(install_sh, tmp_path):
    result = run_sh(install_sh, "--prefix", str(tmp_path / "agent"), path=tools_without_python(tmp_path / "bin"))

    refused(result, "python3 was not found on PATH. Install Python", tmp_path / "agent")
    assert "apt-get install python3 python3-venv" in result.stderr


def test_install_sh_refuses_a_python_that_is_too_old(install_sh, tmp_path):
    python = stand_in_python(tmp_path / "old", version=(3, 8))

    result = run_sh(install_sh, "--prefix", str(tmp_path / "agent"), "--python", str(python))

    minimum = "{}.{}".format(*agent_package.MIN_PYTHON)
    refused(result, f"{python} is Python 3.8; the agent needs Python {minimum} or later.", tmp_path / "agent")


def test_install_sh_refuses_a_python_without_its_venv_module(install_sh, tmp_path):
    python = stand_in_python(tmp_path / "novenv", version=agent_package.MIN_PYTHON, venv=False)

    result = run_sh(install_sh, "--prefix", str(tmp_path / "agent"), "--python", str(python))

    refused(result, "has no venv module", tmp_path / "agent")
    assert "apt-get install python3-venv" in result.stderr


def test_install_sh_says_when_the_download_fails(install_sh, tmp_path):
    result = run_sh(install_sh, "--prefix", str(tmp_path / "agent"), "--python", sys.executable)

    refused(result, "install.sh: could not download http://127.0.0.1:", tmp_path / "agent")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--colour"], "unknown option '--colour' (see --help)"),
        (["--prefix"], "--prefix needs a value"),
        (["--ca-bundle", "/nonexistent.pem"], "--ca-bundle /nonexistent.pem: no such readable file."),
        (["--python", "no-such-python"], "--python no-such-python: no such command."),
    ],
)
def test_install_sh_refuses_bad_options(install_sh, tmp_path, args, message):
    result = run_sh(install_sh, "--prefix", str(tmp_path / "agent"), *args)

    refused(result, message, tmp_path / "agent")


def test_install_sh_never_installs_over_a_folder_that_is_not_its_virtual_environment(install_sh, tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "data").write_text("keep me")

    result = run_sh(install_sh, "--prefix", str(occupied), "--python", sys.executable)

    assert result.returncode != 0
    assert f"{occupied} exists and is not a virtual environment this script installed" in result.stderr
    assert [p.name for p in occupied.iterdir()] == ["data"]


def test_install_sh_never_updates_or_clears_a_virtual_environment_it_did_not_make(install_sh, tmp_path):
    other = tmp_path / "someone-elses-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True)
    (other / "keep").write_text("keep me")
    before = sorted(p.name for p in other.iterdir())

    result = run_sh(install_sh, "--prefix", str(other), "--python", sys.executable)

    assert result.returncode != 0
    assert "is not a virtual environment this script installed the agent into" in result.stderr
    assert sorted(p.name for p in other.iterdir()) == before


def test_install_sh_help_names_its_options(install_sh):
    result = run_sh(install_sh, "--help")

    assert result.returncode == 0
    for option in ("--prefix DIR", "--bin-dir DIR", "--python PATH", "--ca-bundle FILE", "/opt/hybridworker"):
        assert option in result.stdout


def test_the_rendered_script_quotes_what_it_was_given():
    script = agent_package.install_script(wheel_url="http://h/a b.whl", portal_url="http://h/$(id)")

    assert "WHEEL_URL='http://h/a b.whl'" in script
    assert "PORTAL_URL='http://h/$(id)'" in script
    assert io.StringIO(script).readline() == "#!/bin/sh\n"
