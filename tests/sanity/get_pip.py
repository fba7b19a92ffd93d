"""Offline stand-in for pip's get-pip.py bootstrap script, for ansible-test.

ansible-test creates its sanity virtualenvs without pip and downloads a
get-pip.py from a host these machines cannot reach. get-pip.py does one thing:
run `pip install ARGS` from a pip it carries. This file does the same with the
pip wheel that Python's own ensurepip carries. scripts/setup.sh copies it to
where ansible-test looks for its cached download.
"""

import ensurepip
import glob
import os
import sys

wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
if not wheels:
    sys.exit("ensurepip carries no pip wheel: install python3-pip and rerun")
sys.path.insert(0, wheels[-1])

from pip._internal.cli.main import main  # noqa: E402

# get-pip.py's own options (not pip's): nothing to do for them here.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel", "--no-pip"}
sys.exit(main(["install", *(a for a in sys.argv[1:] if a not in OWN_OPTIONS)]))
