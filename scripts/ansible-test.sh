#!/usr/bin/env bash
# Run ansible-test on this checkout: `scripts/ansible-test.sh sanity ...`,
# `scripts/ansible-test.sh integration ...`. ansible-test ignores ansible.cfg
# and wants the collection physically at .../ansible_collections/dockyard/registry,
# so the checkout's files (tracked, and untracked but not ignored) are copied
# into such a tree first. The tree lies outside the checkout: inside it, git
# would call every file ignored and ansible-test would skip them all.
# The arguments go to ansible-test.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DOCKYARD_VENV:-$ROOT/.venv}
# One tree per run, so that runs side by side do not pull it from under each other.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dockyard-ansible-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/ansible_collections/dockyard/registry
mkdir -p "$TREE"
# The token server under services/ is a Python service, not Ansible content:
# its checks are ruff and its own tests, so sanity leaves it (and the image
# recipe that links to it) out.
SKIP='^$'
[ "${1:-}" = sanity ] && SKIP='^(services/|roles/images/files/recipes/auth$)'
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && ! [[ $f =~ $SKIP ]] && printf '%s\0' "$f"; done \
  | tar --null -cf - -T -) | tar -xf - -C "$TREE"
cd "$TREE"
"$VENV/bin/ansible-test" "$@"
