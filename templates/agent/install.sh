{% autoescape off %}#!/bin/sh
# Installs the Hybrid Runbook Worker agent, the `hybridworker` command, from the Automation portal at
# {{ portal_url }}: a virtual environment holding the agent's wheel, which that portal serves.
#
#   curl -fsSL {{ portal_url }}/agentsvc/install.sh | sh
#   curl -fsSL {{ portal_url }}/agentsvc/install.sh | sh -s -- --prefix /srv/hybridworker
#
# Run `sh install.sh --help` for the options. The last line printed is the installed command's full path.
set -eu

PORTAL_URL={{ portal_url }}
WHEEL_URL={{ wheel_url }}
WHEEL_NAME={{ wheel_name }}
WHEEL_SHA256={{ wheel_sha256 }}
VERSION={{ version }}
MIN_PYTHON={{ min_python }}
# Written into the virtual environment it makes: the folders it may update.
MARKER=.hybridworker-install

usage() {
    cat <<EOF
Usage: sh install.sh [--prefix DIR] [--bin-dir DIR] [--python PATH] [--ca-bundle FILE]

Installs hybridworker $VERSION from $PORTAL_URL on this Linux machine, in a virtual
environment of its own (Python $MIN_PYTHON or later, with its venv module; pip fetches
the agent's requirements, httpx and psutil, from your package index).

  --prefix DIR      the virtual environment (default: /opt/hybridworker as root,
                    else \${XDG_DATA_HOME:-~/.local/share}/hybridworker); run again to update
  --bin-dir DIR     where to link the command (default: /usr/local/bin as root,
                    else ~/.local/bin); --bin-dir '' links nothing
  --python PATH     the Python to use (default: python3 on PATH)
  --ca-bundle FILE  CA certificates (PEM) to trust for the download (a private CA)

The last line printed is the full path of the installed command.
EOF
}

pip_install() {
    "$prefix/bin/python" -m pip --disable-pip-version-check --quiet install "$@" </dev/null
}
say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

# Everything runs from main, called on the last line: piped into sh, a download cut short runs nothing.
main() {
    prefix=
    bin_dir=
    bin_dir_given=
    python=
    ca_bundle=
    while [ "$#" -gt 0 ]; do
        case $1 in
        --prefix | --bin-dir | --python | --ca-bundle)
            [ "$#" -ge 2 ] || die "$1 needs a value (see --help)"
            option=$1
            value=$2
            shift 2
            ;;
        --prefix=* | --bin-dir=* | --python=* | --ca-bundle=*)
            option=${1%%=*}
            value=${1#*=}
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option '$1' (see --help)" ;;
        esac
        case $option in
        --prefix) prefix=$value ;;
        --bin-dir) bin_dir=$value bin_dir_given=1 ;;
        --python) python=$value ;;
        --ca-bundle) ca_bundle=$value ;;
        esac
    done

    system=$(uname -s)
    [ "$system" = Linux ] || die "the hybridworker agent runs on Linux, not on $system."
    if [ "$(id -u)" -eq 0 ]; then
        [ -n "$prefix" ] || prefix=/opt/hybridworker
        [ -n "$bin_dir_given" ] || bin_dir=/usr/local/bin
    else
        [ -n "${HOME:-}" ] || die "HOME is not set: pass --prefix DIR and --bin-dir DIR."
        [ -n "$prefix" ] || prefix=${XDG_DATA_HOME:-$HOME/.local/share}/hybridworker
        [ -n "$bin_dir_given" ] || bin_dir=$HOME/.local/bin
    fi
    case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
    case $bin_dir in /* | '') ;; *) bin_dir=$(pwd)/$bin_dir ;; esac
    if [ -n "$ca_bundle" ] && [ ! -r "$ca_bundle" ]; then
        die "--ca-bundle $ca_bundle: no such readable file."
    fi

    hint="Install Python $MIN_PYTHON or later with its venv module (Debian, Ubuntu: apt-get install python3 python3-venv; Fedora, RHEL: dnf install python3), or pass --python PATH."
    if [ -z "$python" ]; then
        python=$(command -v python3) || die "python3 was not found on PATH. $hint"
    else
        found=$(command -v "$python") || die "--python $python: no such command."
        python=$found
    fi
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' </dev/null) ||
        die "$python does not run. $hint"
    "$python" -c "import sys; sys.exit(sys.version_info[:2] < {{ min_python_tuple }})" </dev/null ||
        die "$python is Python $version; the agent needs Python $MIN_PYTHON or later. $hint"
    "$python" -c 'import ensurepip, venv' </dev/null 2>/dev/null ||
        die "$python (Python $version) has no venv module with ensurepip, which the agent's virtual environment needs: on Debian and Ubuntu, apt-get install python3-venv (or python$version-venv)."

    # Only a folder this script made (its marker file) is updated or cleared: never another virtual
    # environment, nor anything else that happens to be there.
    if [ -e "$prefix" ] && [ ! -f "$prefix/$MARKER" ] && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
        die "$prefix exists and is not a virtual environment this script installed the agent into (it has no $MARKER): pass --prefix with a new or empty folder."
    fi

    tmp=$(mktemp -d) || die "could not make a temporary folder."
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM
    say "Downloading $WHEEL_URL"
    "$python" - "$WHEEL_URL" "$tmp/$WHEEL_NAME" "$WHEEL_SHA256" "$ca_bundle" <<'PYTHON' || exit 1
import hashlib
import ssl
import sys
import urllib.request

url, path, expected, ca_bundle = sys.argv[1:]
try:
    context = ssl.create_default_context(cafile=ca_bundle or None)
    with urllib.request.urlopen(url, timeout=120, context=context) as answer:
        data = answer.read()
except Exception as exc:
    sys.exit("install.sh: could not download %s: %s" % (url, exc))
digest = hashlib.sha256(data).hexdigest()
if digest != expected:
    sys.exit("install.sh: the download of %s has SHA-256 %s, not %s: the portal changed its agent "
             "meanwhile, or something altered the download. Fetch install.sh again." % (url, digest, expected))
with open(path, "wb") as out:
    out.write(data)
PYTHON

    if [ -x "$prefix/bin/python" ] && "$prefix/bin/python" -c '' </dev/null 2>/dev/null; then
        say "Updating the virtual environment $prefix"
    else
        say "Making the virtual environment $prefix"
        "$python" -m venv --clear "$prefix" </dev/null || die "could not make a virtual environment in $prefix."
    fi
    printf 'hybridworker %s\n' "$VERSION" >"$prefix/$MARKER" || die "could not write $prefix/$MARKER."
    say "Installing hybridworker $VERSION and its requirements"
    # A second install of the same version would keep the old files: the second command replaces them.
    pip_install "$tmp/$WHEEL_NAME" && pip_install --no-deps --force-reinstall "$tmp/$WHEEL_NAME" ||
        die "pip could not install the agent or its requirements (httpx, psutil) into $prefix: see its message above. They come from your package index (PyPI, or the one PIP_INDEX_URL or pip.conf names)."

    command=$prefix/bin/hybridworker
    "$command" --version </dev/null >/dev/null || die "the installed $command does not run: see the error above."
    if [ -n "$bin_dir" ]; then
        link=$bin_dir/hybridworker
        if [ -e "$link" ] && [ ! -L "$link" ]; then
            say "Left $link as it is (it is not a link); use the full path below."
        elif mkdir -p "$bin_dir" && ln -sfn "$command" "$link"; then
            say "Linked $link to it"
            case ":${PATH:-}:" in
            *":$bin_dir:"*) ;;
            *) say "($bin_dir is not on your PATH: use the full path below, or add it to PATH.)" ;;
            esac
        else
            say "Could not link $link; use the full path below."
        fi
    fi
    say "Installed hybridworker $VERSION. Next, register this machine into a hybrid worker group (the portal's group blade, Add a worker, shows the line)."
    printf '%s\n' "$command"
}

main "$@"
{% endautoescape %}