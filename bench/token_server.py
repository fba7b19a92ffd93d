# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the token server's GET /token, run on demand (never by CI or pytest).

Starts MariaDB in a container and the token server (gunicorn, as ``dockyard-auth
serve`` runs it) on loopback ports, then asks for tokens with wrk from 1, 8 and
32 connections, once with the credential cache on ("cached": a bcrypt check per
worker process, then cache hits) and once with it off ("uncached": a bcrypt
check on every request). Writes bench/results/token-server.md and prints its
table. Everything it starts (container, server, temporary directory) it removes
again, also when it fails or is interrupted.

Run it with the checkout's virtualenv: ``.venv/bin/python bench/token_server.py``
(see bench/README.md).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime as dt
import http.client
import importlib.metadata
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from _report import (
    context_lines,
    load_average,
    log,
    machine,
    read_text,
    self_signed,
    summary_table,
    table,
    utc_now,
    write_key_and_certificate,
    write_results,
)
from _stack import BenchError, docker, exit_status
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "services" / "auth" / "src"
sys.path.insert(0, str(SRC))

from dockyard_auth.cli import WORKER_CLASS  # noqa: E402 (imported from the checkout's src tree, put on sys.path above)
from dockyard_auth.database import make_engine  # noqa: E402
from dockyard_auth.passwords import Hasher  # noqa: E402
from dockyard_auth.permissions import Role, Visibility  # noqa: E402
from dockyard_auth.store import Store  # noqa: E402

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "token-server.md"
MARIADB_IMAGE = os.environ.get("DOCKYARD_MARIADB_IMAGE", "dockyard/mariadb:latest")
SERVICE = "registry.bench.test"
USER = "bench"
ADMIN = "benchadmin"
TEAM = "benchteam"
DEFAULT_SCOPE = f"repository:{USER}/app:pull,push"
MODES = {"cached": 60, "uncached": 0}  # mode: security.credential_cache_ttl
WRK = shutil.which("wrk") or "/usr/bin/wrk"
WRK_SCRIPT = Path(__file__).resolve().with_suffix(".lua")
WRK_TIMEOUT = 30  # seconds before wrk counts a request as timed out (uncached, 32 clients: a few seconds)
# The results table of the Summary (the issue's figures), and the section that keeps earlier ones.
SUMMARY_CLIENTS = 8
BEFORE = "## Before"
DB_HEALTHY_TIMEOUT = 120
SERVER_READY_TIMEOUT = 60
SERVER_STOP_TIMEOUT = 30


# -- MariaDB in a container ----------------------------------------------------------------------
@dataclass
class MariaDB:
    name: str
    image: str
    database: str = "dockyard"
    user: str = "dockyard"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    root_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    socket_dir: Path | None = None
    started: bool = False

    def start(self, socket_dir: Path) -> None:
        """Start the container with no network, its socket in ``socket_dir``, as site.yml runs it beside the server."""
        socket_dir.mkdir(mode=0o755)
        self.socket_dir = socket_dir
        docker(
            "run", "-d", "--name", self.name, "--network", "none", "--volume", f"{socket_dir}:/run/mysqld",
            "-e", f"MARIADB_ROOT_PASSWORD={self.root_password}",
            "-e", f"MARIADB_DATABASE={self.database}",
            "-e", f"MARIADB_USER={self.user}",
            "-e", f"MARIADB_PASSWORD={self.password}",
            self.image,
        )  # fmt: skip
        self.started = True
        deadline = time.monotonic() + DB_HEALTHY_TIMEOUT
        while True:
            state = docker("inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", self.name).stdout
            status, _sep, health = state.strip().partition(" ")
            if health == "healthy":
                break
            if status in {"exited", "dead"} or health == "unhealthy" or time.monotonic() > deadline:
                logs = docker("logs", "--tail", "30", self.name, check=False)
                raise BenchError(
                    f"MariaDB did not become healthy in {DB_HEALTHY_TIMEOUT} s (state: {state.strip()}):\n"
                    + (logs.stdout + logs.stderr)[-3000:]
                )
            time.sleep(1)

    def url(self) -> str:
        return f"mysql+pymysql://{self.user}@localhost/{self.database}?unix_socket={self.socket_dir}/mysqld.sock"

    def remove(self) -> None:
        if self.started:
            docker("rm", "-f", "-v", self.name, check=False)
            self.started = False


# -- files: signing key, secrets, configuration --------------------------------------------------
KEY_TYPES = {
    # registry_pki's token_signing: key_type rsa (its default, and what stack_plan asks for), 2048 bits...
    "rsa": ("RSA 2048 (RS256)", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    # ... or key_type ecdsa, curve secp256r1 (its default curve).
    "ecdsa": ("ECDSA P-256 (ES256)", lambda: ec.generate_private_key(ec.SECP256R1())),
}


def write_signing_pair(directory: Path, key_type: str) -> tuple[Path, Path]:
    """A self-signed key and certificate, as registry_pki makes for the token signer."""
    key = KEY_TYPES[key_type][1]()
    key_path, cert_path = directory / "token-signer.key", directory / "token-signer.crt"
    write_key_and_certificate(key, self_signed(key, "dockyard bench token signer"), key_path, cert_path)
    return key_path, cert_path


def write_secret(path: Path, value: str) -> Path:
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path, mode: str, db: MariaDB, signer: tuple[Path, Path], args, port: int) -> Path:
    """The server's configuration for one mode, as JSON (which yaml.safe_load reads as well).

    What the role token_auth renders, but for the cache in the uncached mode and a back-off that never
    holds anyone (the benchmark makes no failed logins); the server listens on loopback.
    """
    events_secret = directory / "events-secret"
    if not events_secret.exists():
        write_secret(events_secret, secrets.token_urlsafe(24))
    data = {
        "service": SERVICE,
        "token": {"signing_key": str(signer[0]), "signing_cert": str(signer[1]), "ttl": 300},
        "database": {"url": db.url(), "password_file": str(directory / "db-password")},
        "notifications": {"enabled": True, "secret_file": str(events_secret)},
        "security": {
            "bcrypt_rounds": args.bcrypt_rounds,
            "credential_cache_ttl": MODES[mode],
            # The highest threshold allowed: the benchmark makes no failed logins, and must never wait.
            "backoff": {"threshold": 1000},
        },
        "listen": f"127.0.0.1:{port}",
        "workers": args.workers,
        "log_level": "info",
    }
    path = directory / f"config-{mode}.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


# -- the server ----------------------------------------------------------------------------------
def server_env(metrics_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(config: Path, env: dict[str, str], *args: str) -> str:
    """Run one ``dockyard-auth`` command to its end; its output, or BenchError with it."""
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard_auth", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"dockyard-auth {args[0]} failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")
    return proc.stdout.strip()


class Server:
    """``dockyard-auth serve`` in a session of its own, so the gunicorn master and workers stop together."""

    def __init__(self, config: Path, port: int, env: dict[str, str], log_path: Path) -> None:
        self.config, self.port, self.env, self.log_path = config, port, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dockyard_auth", "--config", str(self.config), "serve"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the server stopped at start ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(0.2)
        raise BenchError(f"the server did not answer /healthz with 200 in {SERVER_READY_TIMEOUT} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to the server's process group (gunicorn stops gracefully), SIGKILL if it lingers."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the master leads a process group of its own
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # the master and its workers
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


# -- the load ------------------------------------------------------------------------------------
@dataclass
class Run:
    mode: str
    clients: int
    requests: int = 0  # timed requests answered (any status)
    ok: int = 0  # of those, 200s with a token
    seconds: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, max, mean (wrk: every answer)
    errors: collections.Counter = field(default_factory=collections.Counter)  # kind -> count
    checked: int = 0  # requests whose token the benchmark decoded (warm-up)
    bcrypt_ms: float = math.nan  # uncached: one bcrypt check, timed just before and after the run

    def bcrypt_limit(self, cores: int) -> float:
        """Checks/s the cores could make at this run's bcrypt time: what an uncached run is held to."""
        return cores / self.bcrypt_ms * 1000

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def tokens_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile_ms(self, name: str) -> float:
        return self.latency_ms.get(name, math.nan)


def granted_actions(token: str) -> dict[str, list[str]]:
    """The access claim of a JWT, read without checking the signature (the server's tests do that)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return {f"{a['type']}:{a['name']}": sorted(a["actions"]) for a in claims.get("access", [])}
    except (IndexError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # not a JWT with an access claim: never what the benchmark expects


def check_tokens(run: Run, port: int, path: str, headers: dict[str, str], count: int, expected) -> None:
    """``count`` requests, each on a connection of its own (so they reach every worker), whose tokens must
    grant what was asked; what is wrong counts as an error of the run."""
    for _request in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            status, body = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            run.errors[f"check: {exc.__class__.__name__}"] += 1
            continue
        finally:
            conn.close()
        run.checked += 1
        if status != 200:
            run.errors[f"check: HTTP {status}"] += 1
            continue
        try:
            token = json.loads(body)["token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or granted_actions(token) != expected:
            run.errors["check: 200 without a token granting the scope"] += 1


def wrk(clients: int, seconds: float, url: str, env: dict[str, str]) -> dict:
    """One wrk run, closed loop: ``clients`` keep-alive connections, each with one request in flight."""
    threads = max(1, min(clients, os.cpu_count() or 1))
    command = [
        WRK, f"-t{threads}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", f"{WRK_TIMEOUT}s",
        "--latency", "-s", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 120, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line.removeprefix("BENCH-JSON "))
    raise BenchError(f"wrk gave no results ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")


def add_errors(run: Run, result: dict, prefix: str = "") -> int:
    """Count a wrk result's failures into ``run``; returns how many answers were not a token."""
    failed = 0
    for code, count in sorted(result["statuses"].items()):
        run.errors[f"{prefix}HTTP {code}"] += count
        failed += count
    if result["tokenless"]:
        run.errors[f"{prefix}200 without a token"] += result["tokenless"]
        failed += result["tokenless"]
    for kind, count in result["socket_errors"].items():
        if count:
            run.errors[f"{prefix}socket {kind} errors"] += count
    return failed


def run_load(run: Run, port: int, path: str, authorization: str, args, expected) -> None:
    """Check tokens, warm every worker up with an untimed wrk run, then the timed wrk run."""
    headers = {"Authorization": authorization}
    check_tokens(run, port, path, headers, args.checks, expected)
    url = f"http://127.0.0.1:{port}{path}"
    env = {**os.environ, "DOCKYARD_BENCH_AUTHORIZATION": authorization}
    if args.warmup_seconds > 0:
        add_errors(run, wrk(run.clients, args.warmup_seconds, url, env), prefix="warm-up: ")
    seconds = args.cached_seconds if MODES[run.mode] else args.uncached_seconds
    result = wrk(run.clients, seconds, url, env)
    failed = add_errors(run, result)
    run.requests = result["requests"]
    run.ok = run.requests - failed
    run.seconds = result["duration_us"] / 1e6
    run.latency_ms = {name: value / 1000 for name, value in result["latency_us"].items()}


# -- setup ---------------------------------------------------------------------------------------
def populate(config: Path, env: dict[str, str], db: MariaDB, directory: Path, rounds: int) -> str:
    """Schema, an admin, the user ``bench`` (personal namespace) and a team namespace; bench's password."""
    log(cli(config, env, "migrate"))
    admin_password = write_secret(directory / "admin-password", secrets.token_urlsafe(16))
    log(cli(config, env, "bootstrap-admin", "--name", ADMIN, "--password-file", str(admin_password)))
    password = secrets.token_urlsafe(16)
    engine = make_engine(db.url(), db.password)
    try:
        store = Store(engine)
        store.create_user(USER, Hasher(rounds).hash(password))
        store.create_team(TEAM, "benchmark team")
        store.create_namespace(TEAM, TEAM, Visibility.PRIVATE, "benchmark team namespace")
        store.set_member(TEAM, USER, Role.CONTRIBUTOR)
    finally:
        engine.dispose()
    return password


def mariadb_version(db: MariaDB) -> str:
    engine = make_engine(db.url(), db.password)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT VERSION()").scalar())
    finally:
        engine.dispose()


def bcrypt_ms(rounds: int, checks: int) -> list[float]:
    """The ms of ``checks`` passlib bcrypt verifies (through the server's own Hasher) at ``rounds``, one at a time."""
    hasher = Hasher(rounds)
    secret = secrets.token_urlsafe(16)
    stored = hasher.hash(secret)
    times = []
    for _check in range(checks):
        started = time.perf_counter()
        if not hasher.context.verify(secret, stored):
            raise BenchError("bcrypt verify refused the right password")
        times.append((time.perf_counter() - started) * 1000)
    return times


# -- the machine ---------------------------------------------------------------------------------
def _version(*distributions: str) -> str:
    for name in distributions:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return f"{name} {importlib.metadata.version(name)}"
    return f"{distributions[0]} (not installed)"


def machine_and_libraries() -> dict[str, str]:
    """The machine as the other benchmarks describe it (but docker), and the server's libraries."""
    return {
        **machine(docker=False),
        "Libraries": ", ".join(
            _version(*names)
            for names in (
                ("flask",),
                ("sqlalchemy",),
                ("gunicorn",),
                ("bcrypt",),
                ("libpass", "passlib"),
                ("pymysql",),
                ("pyjwt",),
                ("cryptography",),
            )
        ),
    }


# -- the report ----------------------------------------------------------------------------------
HEADER = ("mode", "clients", "requests", "errors", "tokens/s", "p50 ms", "p99 ms")


def runs_table(runs: list[Run]) -> str:
    rows = []
    for run in runs:
        rows.append(
            (
                run.mode,
                str(run.clients),
                str(run.requests),
                str(run.error_count) + (" (failed run)" if run.error_count else ""),
                f"{run.tokens_per_second():.1f}",
                f"{run.percentile_ms('p50'):.1f}",
                f"{run.percentile_ms('p99'):.1f}",
            )
        )
    return table(HEADER, rows)


def summary(runs: list[Run], cores: int) -> dict[str, str]:
    """The issue's figures: cached tokens/s and p99 at 8 clients, uncached tokens/s over its run's bcrypt limit."""
    at = {(run.mode, run.clients): run for run in runs}
    cached, uncached = at.get(("cached", SUMMARY_CLIENTS)), at.get(("uncached", SUMMARY_CLIENTS))
    return {
        f"cached_tps_{SUMMARY_CLIENTS}": f"{cached.tokens_per_second():.0f}" if cached else "n/a",
        f"cached_p99_ms_{SUMMARY_CLIENTS}": f"{cached.percentile_ms('p99'):.1f}" if cached else "n/a",
        "uncached_vs_bcrypt": (
            f"{uncached.tokens_per_second() / uncached.bcrypt_limit(cores):.2f}" if uncached else "n/a"
        ),
    }


def notes(runs: list[Run]) -> list[str]:
    found = []
    for run in runs:
        if run.errors:
            kinds = ", ".join(f"{n} x {kind}" for kind, n in run.errors.most_common())
            found.append(f"{run.mode}, {run.clients} clients: errors: {kinds}.")
    return found


def earlier(previous: str) -> str:
    """What the new file keeps of the old one: its run's Summary (dated) first, then its Before section."""
    kept = []
    stamp = re.search(r"^Run on (.+?) UTC", previous, re.MULTILINE)
    figures = re.search(r"^## Summary\n(.*?)(?=^## |\Z)", previous, re.MULTILINE | re.DOTALL)
    if stamp and figures:
        body = figures.group(1).strip()
        kept.append(f"### {stamp.group(1)} UTC (the run this one replaced)\n\n{body}\n")
    before = previous.find(f"\n{BEFORE}\n")
    if before >= 0:
        older = previous[before + len(BEFORE) + 2 :].strip()
        if older:
            kept.append(older + "\n")
    return "\n".join(kept)


def report(  # noqa: PLR0913 - one argument per part of the file
    runs: list[Run], info: dict[str, str], settings: dict[str, str], figures: dict[str, str], previous: str,
    started: dt.datetime, took: float,
) -> str:  # fmt: skip
    lines = [
        "# Token server benchmark",
        "",
        "Written by `bench/token_server.py` (see `bench/README.md`); rerun it to refresh these figures.",
        "",
        f"Run on {started:%Y-%m-%d %H:%M} UTC; the whole benchmark took {took:.0f} s.",
        "",
        *context_lines(
            "##",
            info,
            "MariaDB, the server and the load generator (wrk) all ran on this machine and shared its cores.",
            settings,
        ),
        "## Results",
        "",
        "tokens/s counts the answers that were a 200 with a token, over the timed part of a run; p50 and p99",
        "are wrk's latencies of the timed requests (every answer; a run with errors is marked).",
        "",
        runs_table(runs),
        "",
    ]
    found = notes(runs)
    lines += ["## Notes", "", *(f"- {note}" for note in found), ""] if found else ["No errors.", ""]
    lines += [
        "## Summary",
        "",
        summary_table(list(figures.items())),
        "",
        f"`uncached_vs_bcrypt`: uncached tokens/s at {SUMMARY_CLIENTS} clients over the bcrypt limit "
        "of its own run (usable cores / time of one bcrypt check around that run, see Settings).",
        "",
    ]
    kept = earlier(previous)
    lines += [BEFORE, "", kept] if kept else []
    return "\n".join(lines).rstrip("\n") + "\n"


# -- main ----------------------------------------------------------------------------------------
def counts(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive whole numbers separated by commas")
    return values


def role_workers() -> int:
    """The role token_auth's default (token_auth_workers: 0): one worker per CPU of the host, at least 2."""
    return max(os.cpu_count() or 1, 2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=role_workers(), help="default: as the role, %(default)s")
    parser.add_argument("--bcrypt-rounds", type=int, default=10, help="bcrypt cost (default: production's 10)")
    parser.add_argument("--clients", type=counts, default=[1, 8, 32], help="concurrencies (default 1,8,32)")
    parser.add_argument("--cached-seconds", type=float, default=10, help="per timed run (default %(default)s)")
    parser.add_argument("--uncached-seconds", type=float, default=15, help="per timed run (default %(default)s)")
    parser.add_argument("--warmup-seconds", type=float, default=2, help="untimed, per run (default %(default)s)")
    parser.add_argument("--checks", type=int, default=4, help="tokens decoded per run (default %(default)s)")
    parser.add_argument("--bcrypt-checks", type=int, default=20, help="bcrypt verifies timed (default %(default)s)")
    parser.add_argument("--modes", default="cached,uncached", help="default %(default)s")
    parser.add_argument("--key-type", choices=sorted(KEY_TYPES), default="ecdsa", help="signing key (default ecdsa)")
    parser.add_argument("--scope", default=DEFAULT_SCOPE, help="the requested scope (default %(default)s)")
    parser.add_argument("--image", default=MARIADB_IMAGE, help="MariaDB image (default %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results file (default: %(default)s)")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    if not 1 <= args.workers <= 64 or not 4 <= args.bcrypt_rounds <= 16:
        parser.error("--workers must be 1..64 and --bcrypt-rounds 4..16 (the server's own limits)")
    if min(args.cached_seconds, args.uncached_seconds, args.checks, args.bcrypt_checks) < 1:
        parser.error("run times, --checks and --bcrypt-checks must be at least 1")
    if args.warmup_seconds < 0:
        parser.error("--warmup-seconds must not be negative")
    if not os.access(WRK, os.X_OK):
        parser.error(f"wrk is needed (not found at {WRK}): apt-get install wrk")
    return args


def expected_access(scope: str) -> dict[str, list[str]]:
    kind, _sep, rest = scope.partition(":")
    name, _sep, actions = rest.rpartition(":")
    return {f"{kind}:{name}": sorted(actions.split(","))}


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def benchmark(args: argparse.Namespace, workdir: Path, db: MariaDB, servers: list[Server]) -> tuple[list[Run], dict]:
    log(f"starting MariaDB ({db.name}, {args.image})")
    db.start(workdir / "mariadb-socket")
    log(f"MariaDB healthy, its socket in {db.socket_dir}")
    write_secret(workdir / "db-password", db.password)
    signer = write_signing_pair(workdir, args.key_type)
    env = server_env(workdir / "metrics")
    setup_config = write_config(workdir, args.modes[0], db, signer, args, free_port())
    password = populate(setup_config, env, db, workdir, args.bcrypt_rounds)
    log(f"timing {args.bcrypt_checks} bcrypt checks at cost {args.bcrypt_rounds}")
    per_check = statistics.median(bcrypt_ms(args.bcrypt_rounds, args.bcrypt_checks))
    log(f"bcrypt: {per_check:.1f} ms per check")

    path = "/token?" + urllib.parse.urlencode({"service": SERVICE, "scope": args.scope})
    authorization = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()
    expected = expected_access(args.scope)
    runs = []
    for mode in args.modes:
        port = free_port()
        server = Server(write_config(workdir, mode, db, signer, args, port), port, env, workdir / f"server-{mode}.log")
        servers.append(server)
        log(f"starting the server ({mode}: credential_cache_ttl {MODES[mode]}) on 127.0.0.1:{port}")
        server.start()
        try:
            for clients in args.clients:
                run = Run(mode, clients)
                log(f"{mode}: wrk with {clients} connections")
                # This machine's speed drifts over minutes: an uncached run is held to the bcrypt time of its own
                # minute, half the checks timed just before it and half just after (the server idle meanwhile).
                timed = bcrypt_ms(args.bcrypt_rounds, args.bcrypt_checks // 2) if mode == "uncached" else []
                run_load(run, port, path, authorization, args, expected)
                if mode == "uncached":
                    run.bcrypt_ms = statistics.median(timed + bcrypt_ms(args.bcrypt_rounds, args.bcrypt_checks // 2))
                if not server.alive():
                    raise BenchError(f"the server stopped during the run:\n{server.log_tail()}")
                log(
                    f"{mode}, {clients} clients: {run.tokens_per_second():.1f} tokens/s, "
                    f"p50 {run.percentile_ms('p50'):.1f} ms, p99 {run.percentile_ms('p99'):.1f} ms, "
                    f"{run.error_count} errors"
                )
                runs.append(run)
        finally:
            server.stop()
    cores = usable_cores()
    settings = {
        "gunicorn": f"{args.workers} {WORKER_CLASS} workers, as `dockyard-auth serve` runs them; log level info",
        "bcrypt": f"cost {args.bcrypt_rounds}; {per_check:.1f} ms per check on this machine "
        f"(median of {args.bcrypt_checks} passlib verifies, measured before the server started); the limit "
        f"{cores} cores / {per_check:.1f} ms = {cores / per_check * 1000:.1f} checks/s. Each uncached run is held "
        f"to the limit of its own minute: the median of {args.bcrypt_checks // 2} checks timed just before it and "
        f"{args.bcrypt_checks // 2} just after ("
        + ", ".join(
            f"{run.clients} clients {run.bcrypt_ms:.1f} ms, {run.bcrypt_limit(cores):.1f} checks/s"
            for run in runs
            if run.mode == "uncached"
        )
        + ")",
        "credential cache": "cached: security.credential_cache_ttl 60 s; uncached: 0 (a bcrypt check per request)",
        "signing key": f"{KEY_TYPES[args.key_type][0]}, self-signed, as registry_pki's token_signing makes it",
        "request": f"`GET /token?service={SERVICE}&scope={args.scope}` with Basic auth of the user `{USER}` "
        "(its personal namespace: pull and push granted)",
        "load": f"wrk {wrk_version()}, closed loop: one connection per client "
        "(reopened when the server closes it), one request in flight "
        f"on each; before each timed run {args.checks} requests on fresh connections whose tokens are decoded "
        f"and checked, then {args.warmup_seconds:g} s of untimed wrk warm-up",
        "timed run": f"cached {args.cached_seconds:g} s, uncached {args.uncached_seconds:g} s per concurrency",
        "MariaDB": f"{mariadb_version(db)} (image {args.image}), in a container with no network, reached through "
        "its unix socket (as site.yml runs it beside the token server)",
    }
    return runs, {"settings": settings, "cores": cores}


def wrk_version() -> str:
    proc = subprocess.run([WRK, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"wrk (\S+)", proc.stdout + proc.stderr)
    return found.group(1) if found else "(unknown version)"


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started, clock, load = utc_now(), time.monotonic(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    db = MariaDB(name=f"dockyard-bench-db-{secrets.token_hex(4)}", image=args.image)
    servers: list[Server] = []
    try:
        with exit_status():
            runs, found = benchmark(args, workdir, db, servers)
    finally:
        for server in servers:
            server.stop()
        log(f"removing {db.name} and {workdir}")
        db.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    took = time.monotonic() - clock
    info = machine_and_libraries()
    info["Load average before the run"] = load
    figures = summary(runs, found["cores"])
    previous = read_text(args.output)
    write_results(args.output, report(runs, info, found["settings"], figures, previous, started, took))
    print(runs_table(runs))
    for note in notes(runs):
        print(f"note: {note}")
    print(summary_table(list(figures.items())))
    print(f"bcrypt: {found['settings']['bcrypt']}")
    print(f"took {took:.0f} s; results in {args.output}")
    return 1 if any(run.error_count for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
