# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of authenticated requests per second through the deployed stack, run on demand (never by CI or pytest).

Measures the stack that ``make run`` deployed on this machine (registry.dockyard.test on
127.0.0.1:443) with wrk: the manifest request of a pull, ``GET /v2/<repo>/manifests/<tag>`` of
a small image the benchmark pushes first, with the admin's repeated credentials (basic mode:
``Authorization: Basic``; token mode: a bearer token fetched once per run), from 1, 8 and 32
connections; and the same request without credentials (the 401 answer) as the proxy's own
ceiling. The mode is read from the registry's 401 challenge. Writes bench/results/auth-rate.md,
which keeps the latest figures of each mode: a run in one mode replaces that mode's section and
keeps the other's. The image it pushed it deletes again, also when it fails or is interrupted.

Run it with the checkout's virtualenv: ``.venv/bin/python bench/auth_rate.py`` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _report import (
    CpuMeter,
    before_section,
    checkout_state,
    command_output,
    context_lines,
    cpu_table,
    load_average,
    log,
    machine,
    read_text,
    section,
    summary_metrics,
    summary_table,
    table,
    utc_now,
    write_results,
)
from _stack import (
    DEFAULT_NAME,
    DEFAULT_SECRETS,
    DEFAULT_USER,
    MANIFEST_ACCEPT,
    ROOT,
    BenchError,
    Pushed,
    Registry,
    Stack,
    exit_status,
    image_versions,
    stack_path,
    stored_hash,
)

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "auth-rate.md"
NAMESPACE = "dockyard-bench"
TAG = "latest"
# The registry's challenge scheme -> the mode's name in the results file and its summary metric.
MODES = {"basic": ("Basic mode", "basic_rps_{c}"), "bearer": ("Token mode", "token_rps_{c}")}
SUMMARY_CONNECTIONS = 8  # the figure: requests/s at 8 clients
WRK_MARK = "BENCH-JSON "
# wrk's done() hook prints its counters as one JSON line (latency in microseconds, corrected by wrk).
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
    .. '"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    "{mark}", summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)


@dataclass
class Row:
    kind: str  # authenticated | unauthenticated
    connections: int
    expected: int  # the status every answer should have
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    detail: str = ""  # what the errors were
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process name over the timed run

    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- wrk -----------------------------------------------------------------------------------------
def lua_script(path: Path, headers: dict[str, str]) -> Path:
    """wrk's script: GET with these headers (the credentials stay out of any command line)."""
    lines = ['wrk.method = "GET"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + WRK_DONE.replace("{mark}", WRK_MARK), encoding="utf-8")
    path.chmod(0o600)
    return path


def wrk(url: str, script: Path, connections: int, seconds: float, timeout_s: float) -> dict:
    threads = max(1, min(connections, os.cpu_count() or 1))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
    argv += ["--timeout", f"{timeout_s:g}s", "-s", str(script), url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 60, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(WRK_MARK):
            return json.loads(line[len(WRK_MARK) :])
    raise BenchError(f"wrk failed ({proc.returncode}): {(proc.stdout + proc.stderr).strip()[-1000:]}")


def probe(stack: Stack, path: str, headers: dict[str, str]) -> int:
    """The status of one request with exactly these headers (no challenge answered)."""
    registry = Registry(stack.name, stack.port, stack.ca_file)
    try:
        return registry.send("GET", path, headers, None).status
    finally:
        registry.close()


def measure(row: Row, stack: Stack, path: str, headers: dict[str, str], workdir: Path, args) -> Row:
    """A warm-up, then the timed wrk run; a probe before and after checks the exact status."""
    script = lua_script(workdir / f"wrk-{row.kind}-{row.connections}.lua", headers)
    url = f"https://{stack.address}{path}"
    problems = []
    before = probe(stack, path, headers)
    if before != row.expected:
        raise BenchError(f"{row.kind}: the probe got {before}, not {row.expected}, before the run")
    wrk(url, script, row.connections, args.warmup, args.timeout)
    with CpuMeter("wrk (the benchmark's)") as meter:
        result = wrk(url, script, row.connections, args.duration, args.timeout)
    row.cpu = meter.used
    after = probe(stack, path, headers)
    if after != row.expected:
        problems.append(f"probe after the run: {after}")
    row.requests, row.seconds = result["requests"], result["duration_us"] / 1e6
    row.p50_ms, row.p99_ms = result["p50_us"] / 1000, result["p99_us"] / 1000
    # wrk counts answers with a status above 399; anything else a success must not be.
    wrong = result["status"] if row.expected < 400 else result["requests"] - result["status"]
    socket_errors = {k: result[k] for k in ("connect", "read", "write", "timeout") if result[k]}
    row.errors = wrong + sum(socket_errors.values()) + len(problems)
    if wrong:
        problems.append(f"{wrong} answers {'>= 400' if row.expected < 400 else 'below 400'}")
    problems += [f"{n} {kind} errors" for kind, n in socket_errors.items()]
    row.detail = "; ".join(problems)
    state = f"FAILED ({row.detail})" if row.errors else "ok"
    log(f"{row.kind}, {row.connections} connections: {row.rps():.1f} requests/s, p50 {row.p50_ms:.1f} ms, {state}")
    return row


# -- checks beyond the rate ----------------------------------------------------------------------
@dataclass
class Outcome:
    """One more finding of a run, reported in its section's Checks table."""

    check: str
    value: str
    ok: bool


# Per mode (the challenge's scheme), callables run after the rate runs as f(stack, registry, args):
# each returns an Outcome. Empty for now; the file reports a Checks table when a mode has any.
CHECKS: dict[str, tuple[Callable[[Stack, Registry, argparse.Namespace], Outcome], ...]] = {
    "basic": (),
    "bearer": (),
}


# -- the report ----------------------------------------------------------------------------------
def rows_table(rows: list[Row]) -> str:
    body = [
        (
            r.kind,
            str(r.connections),
            str(r.requests),
            str(r.errors) + (" (failed run)" if r.errors else ""),
            f"{r.rps():.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
        )
        for r in rows
    ]
    return table(("request", "connections", "requests", "errors", "requests/s", "p50 ms", "p99 ms"), body)


def mode_section(data: dict) -> str:
    heading, _metric = MODES[data["scheme"]]
    lines = [
        f"## {heading}",
        "",
        f"Run on {data['started']:%Y-%m-%d %H:%M} UTC; the whole benchmark took {data['took']:.0f} s.",
        "",
        *context_lines(
            "###",
            data["machine"],
            "wrk, nginx, the registry (and in token mode the token server) all ran on this machine and shared its "
            "cores.",
            data["settings"],
        ),
        "### Results",
        "",
        "requests/s counts every answer over the timed run; p50 and p99 are wrk's latencies (corrected for",
        "coordinated omission).",
        "",
        rows_table(data["rows"]),
        "",
    ]
    columns = [
        (f"{'auth' if r.kind == 'authenticated' else '401'} x{r.connections}", r.cpu, r.seconds) for r in data["rows"]
    ]
    lines += [
        "### Where the CPU went",
        "",
        "Cores used during each timed run (CPU seconds / seconds), by process name, from `/proc`. Everything",
        "on the machine counts, other work included.",
        "",
        cpu_table(columns),
        "",
    ]
    if data["checks"]:
        checks = [(o.check, o.value, "ok" if o.ok else "failed") for o in data["checks"]]
        lines += ["### Checks", "", table(("check", "value", "result"), checks, left=2), ""]
    notes = [f"{r.kind}, {r.connections} connections: {r.detail}" for r in data["rows"] if r.detail]
    lines += ["### Notes", "", *(f"- {n}" for n in notes), ""] if notes else ["No errors.", ""]
    return "\n".join(lines)


def summary_value(data: dict) -> str:
    row = next((r for r in data["rows"] if r.kind == "authenticated" and r.connections == SUMMARY_CONNECTIONS), None)
    if row is None:
        return f"not measured (no run at {SUMMARY_CONNECTIONS} connections)"
    return f"{row.rps():.1f}" + (f" (failed run: {row.errors} errors)" if row.errors else "")


def report(data: dict, old: str, move_summary: bool) -> str:
    """The whole file: this run's mode section replaces its predecessor; the other mode's is kept."""
    previous = summary_metrics(old)
    metrics, measured, blocks = [], [], []
    for scheme, (heading, metric) in MODES.items():
        name = metric.format(c=SUMMARY_CONNECTIONS)
        if scheme == data["scheme"]:
            metrics.append((name, summary_value(data)))
            measured.append(f"{heading.lower()}: {data['started']:%Y-%m-%d %H:%M} UTC (this run)")
            blocks.append(mode_section(data))
            continue
        metrics.append((name, previous.get(name, "not measured yet")))
        kept = section(old, heading)
        dated = re.search(r"^Run on (.+?) UTC", kept, re.M)
        measured.append(f"{heading.lower()}: {dated.group(1) + ' UTC' if dated else 'not measured yet'}")
        if kept:
            blocks.append(kept)
    lines = [
        "# Authentication rate benchmark",
        "",
        "Written by `bench/auth_rate.py` (see `bench/README.md`); rerun it to refresh these figures. A run",
        "measures the mode the stack is deployed in and keeps the other mode's latest figures.",
        "",
        "## Summary",
        "",
        f"Authenticated requests per second through the proxy at {SUMMARY_CONNECTIONS} connections, with the",
        "same credentials on every request; issue 13 asks for at least 1,000 in each mode.",
        "",
        summary_table(metrics),
        "",
        "Last measured: " + "; ".join(measured) + ".",
        "",
    ]
    before = before_section(old, move_summary, utc_now())
    return (
        "\n".join(lines) + "\n" + "\n".join(b.rstrip("\n") + "\n" for b in blocks) + ("\n" + before if before else "")
    )


# -- main ----------------------------------------------------------------------------------------
def counts(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive whole numbers separated by commas")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=counts, default=[1, 8, 32], help="default 1,8,32")
    parser.add_argument("--reference-connections", type=counts, default=[8], help="unauthenticated (default 8)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per timed run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per run (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=10, help="wrk's request timeout (default %(default)s)")
    parser.add_argument("--secrets-dir", type=Path, default=DEFAULT_SECRETS, help="default %(default)s")
    parser.add_argument("--registry", default=DEFAULT_NAME, help="the stack's name (default %(default)s)")
    parser.add_argument("--user", default=DEFAULT_USER, help="the admin (default %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results file (default: %(default)s)")
    parser.add_argument(
        "--before", action="store_true", help="add the replaced file's summary to its ## Before section"
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 1 or args.timeout < 1:
        parser.error("--duration, --warmup and --timeout must be at least 1 s")
    return args


def credentials(stack: Stack, registry: Registry, scheme: str, params: dict[str, str], repository: str, args):
    """The Authorization header of the authenticated rows, and a note on how it was made."""
    if scheme == "basic":
        return f"Basic {stack.basic_credentials()}", f"`Authorization: Basic` of `{stack.user}` on every request"
    token, expires_in = registry.token(params, f"repository:{repository}:pull")
    if expires_in < args.warmup + args.duration + 30:
        raise BenchError(f"the token lasts {expires_in} s, less than a run ({args.warmup + args.duration:g} s)")
    return f"Bearer {token}", (
        f"`Authorization: Bearer` with a token for `repository:{repository}:pull`, fetched once per run "
        f"from {params.get('realm')} with `{stack.user}`'s password (valid {expires_in} s)"
    )


def benchmark(args: argparse.Namespace, workdir: Path, pushed: list[tuple[Registry, Pushed]]) -> dict:
    stack = Stack.from_checkout(args.secrets_dir, args.registry, args.user)
    registry = Registry.of(stack)
    scheme, params = registry.challenge()
    if scheme not in MODES:
        raise BenchError(f"the registry's challenge is {scheme!r}, neither Basic nor Bearer: is the stack deployed?")
    log(f"the stack at {stack.address} asks for {scheme} auth")
    repository = f"{NAMESPACE}/auth"  # the same name at every run: the registry keeps a repository's name
    image = registry.push_small_image(repository, TAG)
    pushed.append((registry, image))
    log(f"pushed {repository}:{TAG}")
    path = f"/v2/{repository}/manifests/{TAG}"
    accept = {"Accept": MANIFEST_ACCEPT}
    rows = []
    how = ""
    for connections in args.connections:
        authorization, how = credentials(stack, registry, scheme, params, repository, args)
        row = Row("authenticated", connections, 200)
        rows.append(measure(row, stack, path, {**accept, "Authorization": authorization}, workdir, args))
    for connections in args.reference_connections:
        rows.append(measure(Row("unauthenticated", connections, 401), stack, path, accept, workdir, args))
    checks = [check(stack, registry, args) for check in CHECKS[scheme]]

    versions = image_versions()
    info = machine()
    wrk_version = command_output("wrk", "-v").split(" Copyright")[0]
    info["Tools"] = f"{wrk_version}; nginx {versions['nginx']}; registry {versions['registry']}"
    answered_by = "nginx (auth_basic)" if scheme == "basic" else "the registry (nginx passes /v2/ through)"
    settings = {
        "stack": f"{stack.address}, {MODES[scheme][0].lower()} (challenge: {scheme.capitalize()})",
        "path": stack_path(stack),
        "request": f"`GET {path}` with `Accept: {MANIFEST_ACCEPT}` (the manifest of a 1 KiB image pushed "
        "for the run and deleted afterwards); wrk cannot read answers to HEAD (it waits for the body that "
        "Content-Length announces), so it sends the GET a pull makes after it",
        "authenticated": how,
        "unauthenticated": f"the same request without credentials: a 401 from {answered_by}",
        "load": f"wrk, {args.warmup:g} s warm-up then {args.duration:g} s timed per row, "
        f"threads = min(connections, {os.cpu_count()} cores), keep-alive connections, timeout {args.timeout:g} s",
        "errors": "answers with another status than expected (200, or 401 for the unauthenticated row: wrk "
        "counts statuses above 399) and socket errors; a probe request before and after each row checks the "
        "exact status",
    }
    if scheme == "basic":
        settings["stored hash"] = f"`{stack.user}`'s entry in the htpasswd file nginx reads: {stored_hash(stack.user)}"
    return {"scheme": scheme, "rows": rows, "checks": checks, "machine": info, "settings": settings}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started, clock, load = utc_now(), time.monotonic(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-auth-"))
    pushed: list[tuple[Registry, Pushed]] = []
    try:
        with exit_status():
            data = benchmark(args, workdir, pushed)
    finally:
        for registry, image in pushed:
            log(f"deleting {image.repository}")
            try:
                for problem in registry.delete_image(image):
                    log(f"could not delete: {problem}")
            except (OSError, BenchError) as exc:
                log(f"could not delete {image.repository}: {exc}")
            registry.close()
        shutil.rmtree(workdir, ignore_errors=True)
    data["started"], data["took"] = started, time.monotonic() - clock
    data["machine"]["Checkout"] = checkout_state(ROOT)
    data["machine"]["Load average before the run"] = load
    old = read_text(args.output)
    write_results(args.output, report(data, old, args.before))
    print(rows_table(data["rows"]))
    print(f"{MODES[data['scheme']][1].format(c=SUMMARY_CONNECTIONS)} {summary_value(data)}")
    print(f"took {data['took']:.0f} s; results in {args.output}")
    failed = any(r.errors for r in data["rows"]) or any(not o.ok for o in data["checks"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
