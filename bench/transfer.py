# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of pushes and pulls through the deployed stack, run on demand (never by CI or pytest).

Measures the stack that ``make run`` deployed on this machine (registry.dockyard.test on
127.0.0.1:443, token or basic mode) against a reference started in the same run: the same
registry image serving TLS itself, without authentication, on a loopback port of the host's
network. A 1 GiB uncompressed layer of random data is pushed and pulled with skopeo, 5 times on
each side, alternating; the ratio is reference time / stack time. Then 20 skopeo processes push
20 distinct images through the stack at once. Writes bench/results/transfer.md and prints its
tables. Everything it starts (the reference container and its volume, skopeo processes, the
temporary directory) it removes again, also when it fails or is interrupted, and it deletes the
images it pushed.

Run it with the checkout's virtualenv: ``.venv/bin/python bench/transfer.py`` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import ipaddress
import math
import os
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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
    self_signed,
    summary_table,
    table,
    utc_now,
    write_key_and_certificate,
    write_results,
)
from _stack import (
    DEFAULT_NAME,
    DEFAULT_SECRETS,
    DEFAULT_USER,
    OCI_LAYER,
    OCI_MANIFEST,
    ROOT,
    TAR_END,
    BenchError,
    Pushed,
    Registry,
    Stack,
    docker,
    exit_status,
    image_config,
    image_versions,
    oci_manifest,
    stack_path,
    tar_header,
)
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import ExtendedKeyUsageOID

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "transfer.md"
REGISTRY_IMAGE = os.environ.get("DOCKYARD_REGISTRY_IMAGE", "dockyard/registry:latest")
MIB = 1024 * 1024
REFERENCE_READY_TIMEOUT = 60
# Repositories pushed: dockyard-bench/transfer-<side> and dockyard-bench/pusher-<n>, the same names at every run
# (the registry keeps a repository's name once its images are deleted: fixed names leave a fixed few behind).
NAMESPACE = "dockyard-bench"


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)


# -- the image: one uncompressed layer of random data, in skopeo's dir: layout ------------------
@dataclass
class Image:
    path: Path
    layer_digest: str
    layer_size: int
    config_digest: str
    manifest_digest: str

    def pushed(self, repository: str) -> Pushed:
        return Pushed(repository, self.manifest_digest, [self.layer_digest, self.config_digest])


def write_image(directory: Path, size_mib: int) -> Image:
    """An OCI image of one layer (application/vnd.oci.image.layer.v1.tar, not compressed) holding a file of
    ``size_mib`` MiB of AES-CTR output (random, incompressible), as skopeo's ``dir:`` transport lays it out."""
    directory.mkdir(parents=True)
    (directory / "version").write_text("Directory Transport Version: 1.1\n", encoding="utf-8")
    encryptor = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor()
    zeros = bytes(MIB)
    digest = hashlib.sha256()
    partial = directory / "layer.partial"
    size = 0
    with partial.open("wb") as out:
        for chunk in (tar_header("payload.bin", size_mib * MIB), *([None] * size_mib), TAR_END):
            data = encryptor.update(zeros) if chunk is None else chunk
            out.write(data)
            digest.update(data)
            size += len(data)
    layer_digest = "sha256:" + digest.hexdigest()
    partial.rename(directory / digest.hexdigest())
    config = image_config(layer_digest)
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    (directory / config_digest.split(":")[1]).write_bytes(config)
    manifest = oci_manifest(config_digest, len(config), layer_digest, size)
    (directory / "manifest.json").write_bytes(manifest)
    return Image(directory, layer_digest, size, config_digest, "sha256:" + hashlib.sha256(manifest).hexdigest())


# -- the reference: the same registry image serving TLS itself ----------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_reference_certificate(directory: Path, like: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, with a key of the same kind as the stack's server key
    (``like``: its certificate), so that both sides do the same TLS work."""
    stack_key = x509.load_pem_x509_certificate(like.read_bytes()).public_key()
    if isinstance(stack_key, ec.EllipticCurvePublicKey):
        key = ec.generate_private_key(type(stack_key.curve)())
    else:
        size = stack_key.key_size if isinstance(stack_key, rsa.RSAPublicKey) else 2048
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = self_signed(
        key,
        "dockyard bench reference registry",
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.SubjectAlternativeName(names), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "server.key", directory / "server.crt"
    write_key_and_certificate(key, cert, key_path, cert_path)
    return cert_path, key_path


def describe_key(cert: Path) -> str:
    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    return f"RSA {key.key_size}" if isinstance(key, rsa.RSAPublicKey) else type(key).__name__


@dataclass
class Reference:
    """``dockyard/registry`` with TLS and no auth on 127.0.0.1:<port> of the host's network (no docker-proxy)."""

    name: str
    image: str
    port: int = 0
    started: bool = False

    def start(self, certs: Path) -> None:
        self.port = free_port()
        docker(
            "run", "-d", "--name", self.name, "--network", "host",
            "-v", f"{certs}:/certs:ro",
            "-e", f"REGISTRY_HTTP_ADDR=127.0.0.1:{self.port}",
            "-e", "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt",
            "-e", "REGISTRY_HTTP_TLS_KEY=/certs/server.key",
            "-e", "REGISTRY_STORAGE_DELETE_ENABLED=true",
            self.image,
        )  # fmt: skip
        self.started = True
        context = ssl.create_default_context(cafile=str(certs / "server.crt"))
        deadline = time.monotonic() + REFERENCE_READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw,
                    context.wrap_socket(raw, server_hostname="127.0.0.1"),
                ):
                    return
            except (OSError, ssl.SSLError):
                state = docker("inspect", "--format", "{{.State.Status}}", self.name, check=False).stdout.strip()
                if state in {"exited", "dead"}:
                    break
                time.sleep(0.5)
        logs = docker("logs", "--tail", "30", self.name, check=False)
        raise BenchError(
            f"the reference registry did not answer TLS on 127.0.0.1:{self.port} in {REFERENCE_READY_TIMEOUT} s:\n"
            + (logs.stdout + logs.stderr)[-3000:]
        )

    def remove(self) -> None:
        if self.started:
            docker("rm", "-f", "-v", self.name, check=False)
            self.started = False


# -- skopeo, measured ----------------------------------------------------------------------------
@dataclass
class Side:
    """One registry as skopeo and the registry client reach it."""

    key: str  # stack | reference
    address: str  # host[:port] in image references
    cert_dir: Path  # skopeo --*-cert-dir: the CA that signs its certificate
    authfile: Path | None  # skopeo --*-authfile, None for anonymous
    registry: Registry  # for deleting what was pushed


@dataclass
class Transfer:
    side: str
    what: str  # push | pull
    run: int
    seconds: float = 0.0
    wire_bytes: int = 0  # what skopeo wrote (push) or read (pull), from /proc/<pid>/io
    error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process name during the transfer

    def mib_s(self, size: int) -> float:
        return size / MIB / self.seconds if self.seconds and not self.error else 0.0


RUNNING: dict[int, subprocess.Popen] = {}  # pid -> skopeo process, killed when the benchmark stops early
PUSHED: list[tuple[Registry, Pushed]] = []  # images pushed and not deleted yet: deleted when the benchmark stops


def delete_pushed(registry: Registry, pushed: Pushed) -> list[str]:
    problems = registry.delete_image(pushed)
    if not problems and (registry, pushed) in PUSHED:
        PUSHED.remove((registry, pushed))
    return problems


def delete_leftovers() -> None:
    """Best effort, when the benchmark stops early: delete what it pushed and did not delete yet."""
    for registry, pushed in list(PUSHED):
        try:
            delete_pushed(registry, pushed)
        except (OSError, BenchError) as exc:
            log(f"could not delete {pushed.repository}: {exc}")
    PUSHED.clear()


def proc_io(pid: int) -> dict[str, int]:
    """/proc/<pid>/io of a child that has exited but is not reaped yet (read, write counts of all threads)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text(encoding="ascii")
    except OSError:
        return {}
    return {k.strip(): int(v) for k, _sep, v in (line.partition(":") for line in text.splitlines()) if v.strip()}


def skopeo_copy(side: Side, push: bool, source: str, destination: str) -> list[str]:
    prefix = "dest" if push else "src"
    argv = ["skopeo", "copy", "--retry-times", "0", f"--{prefix}-cert-dir", str(side.cert_dir)]
    argv += [f"--{prefix}-authfile", str(side.authfile)] if side.authfile else [f"--{prefix}-no-creds"]
    if push:
        # The layer is pushed as it is: skopeo would otherwise gzip an uncompressed layer for a registry.
        argv.append("--preserve-digests")
    return [*argv, source, destination]


def start(argv: list[str], log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    RUNNING[proc.pid] = proc
    return proc


def reap(proc: subprocess.Popen) -> dict[str, int]:
    """Called once ``proc`` has exited (waitid with WNOWAIT): its I/O counters, then reap it."""
    counters = proc_io(proc.pid)
    proc.wait()
    RUNNING.pop(proc.pid, None)
    return counters


def kill_running() -> None:
    for proc in list(RUNNING.values()):
        if proc.poll() is None:
            proc.kill()


def stop_running() -> None:
    kill_running()
    for proc in list(RUNNING.values()):
        proc.wait()
    RUNNING.clear()


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(read_text(path).splitlines()[-lines:])


def timed(argv: list[str], log_path: Path, timeout: float) -> tuple[float, dict[str, int], int, dict[str, float]]:
    """Run one skopeo to its end: (seconds, its /proc io counters, exit status, CPU seconds by process name)."""
    with CpuMeter("skopeo (the benchmark's)") as meter:
        started = time.perf_counter()
        proc = start(argv, log_path)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            seconds = time.perf_counter() - started
        finally:
            timer.cancel()
        counters = reap(proc)
    return seconds, counters, proc.returncode, meter.used


def push_and_pull(side: Side, image: Image, run: int, workdir: Path, args) -> list[Transfer]:
    repository = f"{NAMESPACE}/transfer-{side.key}"
    reference = f"docker://{side.address}/{repository}:latest"
    log_path = workdir / f"skopeo-{side.key}-{run}.log"
    results = []
    PUSHED.append((side.registry, image.pushed(repository)))
    os.sync()  # no writeback of the previous transfer's data during this one
    seconds, counters, status, cpu = timed(
        skopeo_copy(side, True, f"dir:{image.path}", reference), log_path, args.transfer_timeout
    )
    push = Transfer(side.key, "push", run, seconds, counters.get("wchar", 0), cpu=cpu)
    if status != 0:
        push.error = f"skopeo exit {status}: {tail(log_path, 3)}"
    elif push.wire_bytes < image.layer_size:
        push.error = f"only {push.wire_bytes} bytes written: the layer was not uploaded (mounted or skipped?)"
    results.append(push)
    if status == 0:
        target = workdir / f"pull-{side.key}-{run}"
        os.sync()
        seconds, counters, status, cpu = timed(
            skopeo_copy(side, False, reference, f"dir:{target}"), log_path, args.transfer_timeout
        )
        pull = Transfer(side.key, "pull", run, seconds, counters.get("rchar", 0), cpu=cpu)
        pulled = target / image.layer_digest.split(":")[1]
        if status != 0:
            pull.error = f"skopeo exit {status}: {tail(log_path, 3)}"
        elif not pulled.is_file() or pulled.stat().st_size != image.layer_size:
            pull.error = "the pulled layer is missing or has the wrong size"
        shutil.rmtree(target, ignore_errors=True)
        results.append(pull)
        # So that the next push (to a new repository) cannot mount the blob from this one.
        problems = delete_pushed(side.registry, image.pushed(repository))
        if problems:
            raise BenchError(
                f"could not delete {repository} from the {side.key} ({'; '.join(problems)}); without deletes "
                "the next push could mount the layer instead of uploading it"
            )
    for result in results:
        state = f"FAILED: {result.error}" if result.error else f"{result.mib_s(image.layer_size):.1f} MiB/s"
        log(f"run {run}, {side.key}: {result.what} {result.seconds:.2f} s, {state}")
    return results


# -- concurrent pushers --------------------------------------------------------------------------
@dataclass
class Pushers:
    side: str
    count: int
    size: int  # bytes per layer
    seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # repositories that could not be deleted

    def mib_s(self) -> float:
        ok = self.count - len(self.errors)
        return ok * self.size / MIB / self.seconds if self.seconds else 0.0


def concurrent_pushes(side: Side, images: list[Image], workdir: Path, args) -> Pushers:
    """Push every image to its own repository, all at once; wall time from the first start to the last exit."""
    result = Pushers(side.key, len(images), images[0].layer_size)
    started_at: dict[int, tuple[int, float]] = {}
    repositories = [f"{NAMESPACE}/pusher-{i + 1:02d}" for i in range(len(images))]
    PUSHED.extend(
        (side.registry, image.pushed(repository)) for image, repository in zip(images, repositories, strict=True)
    )
    os.sync()
    began = time.perf_counter()
    for i, (image, repository) in enumerate(zip(images, repositories, strict=True)):
        argv = skopeo_copy(side, True, f"dir:{image.path}", f"docker://{side.address}/{repository}:latest")
        proc = start(argv, workdir / f"pusher-{side.key}-{i + 1:02d}.log")
        started_at[proc.pid] = (i, time.perf_counter())
    procs = dict(RUNNING)
    timer = threading.Timer(args.transfer_timeout, kill_running)
    timer.start()
    try:
        while any(pid in RUNNING for pid in started_at):
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            now = time.perf_counter()
            proc = procs.get(info.si_pid)
            if proc is None:
                os.waitpid(info.si_pid, 0)  # not ours to measure
                continue
            index, at = started_at[info.si_pid]
            counters = reap(proc)
            result.times.append(now - at)
            if proc.returncode != 0:
                log_path = workdir / f"pusher-{side.key}-{index + 1:02d}.log"
                result.errors.append(f"pusher {index + 1}: skopeo exit {proc.returncode}: {tail(log_path, 2)}")
            elif counters.get("wchar", 0) < result.size:
                result.errors.append(f"pusher {index + 1}: only {counters.get('wchar', 0)} bytes written")
        result.seconds = time.perf_counter() - began
    finally:
        timer.cancel()
    for image, repository in zip(images, repositories, strict=True):
        if delete_pushed(side.registry, image.pushed(repository)):
            result.left.append(repository)
    log(
        f"{len(images)} pushers to the {side.key}: {result.seconds:.1f} s, {result.mib_s():.1f} MiB/s, "
        f"{len(result.errors)} errors"
    )
    return result


# -- the report ----------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratios(transfers: list[Transfer]) -> dict[str, float]:
    """push and pull: median reference time / median stack time (> 1: the stack is faster)."""
    found = {}
    for what in ("push", "pull"):
        times = {
            side: [t.seconds for t in transfers if t.side == side and t.what == what and not t.error]
            for side in ("stack", "reference")
        }
        found[what] = median(times["reference"]) / median(times["stack"]) if all(times.values()) else float("nan")
    return found


def cpu_columns(transfers: list[Transfer]) -> list[tuple[str, dict[str, float], float]]:
    columns = []
    for what in ("push", "pull"):
        for side in ("stack", "reference"):
            done = [t for t in transfers if t.side == side and t.what == what and not t.error]
            used: collections.Counter = collections.Counter()
            for t in done:
                used.update(t.cpu)
            columns.append((f"{what} {side}", dict(used), sum(t.seconds for t in done)))
    return columns


def transfer_table(transfers: list[Transfer], size: int) -> str:
    rows = []
    for t in transfers:
        rows.append(
            (
                str(t.run),
                t.side,
                t.what,
                f"{t.seconds:.2f}",
                f"{t.mib_s(size):.1f}",
                f"{t.wire_bytes / MIB:.0f}",
                "failed" if t.error else "ok",
            )
        )
    return table(("run", "side", "transfer", "seconds", "MiB/s", "MiB through skopeo", "result"), rows, left=3)


def median_table(transfers: list[Transfer], size: int) -> str:
    rows = []
    for what in ("push", "pull"):
        for side in ("stack", "reference"):
            times = [t.seconds for t in transfers if t.side == side and t.what == what and not t.error]
            med = median(times)
            rows.append(
                (
                    what,
                    side,
                    str(len(times)),
                    f"{med:.2f}" if times else "-",
                    f"{size / MIB / med:.1f}" if times else "-",
                    f"{min(times):.2f}" if times else "-",
                    f"{max(times):.2f}" if times else "-",
                )
            )
    return table(("transfer", "side", "runs", "median s", "MiB/s", "min s", "max s"), rows, left=2)


def pushers_table(results: list[Pushers]) -> str:
    rows = [
        (
            p.side,
            str(p.count),
            f"{p.size / MIB:.0f}",
            str(len(p.errors)),
            f"{p.seconds:.1f}",
            f"{p.mib_s():.1f}",
            f"{median(p.times):.1f}" if p.times else "-",
            f"{max(p.times):.1f}" if p.times else "-",
        )
        for p in results
    ]
    header = ("side", "pushers", "MiB each", "errors", "wall s", "aggregate MiB/s", "median s", "slowest s")
    return table(header, rows, left=1)


def fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"  # NaN: no successful run on one side


def report(data: dict, old: str, move_summary: bool) -> str:
    transfers, pushers, size = data["transfers"], data["pushers"], data["layer_size"]
    found = ratios(transfers)
    metrics = [("push_ratio", fmt(found["push"])), ("pull_ratio", fmt(found["pull"]))]
    stack_pushers = next((p for p in pushers if p.side == "stack"), None)
    if stack_pushers:
        metrics += [
            (f"pushers_{stack_pushers.count}_errors", str(len(stack_pushers.errors))),
            (f"pushers_{stack_pushers.count}_mib_s", f"{stack_pushers.mib_s():.1f}"),
        ]
    errors = [t for t in transfers if t.error]
    lines = [
        "# Transfer benchmark",
        "",
        "Written by `bench/transfer.py` (see `bench/README.md`); rerun it to refresh these figures.",
        "",
        f"Run on {data['started']:%Y-%m-%d %H:%M} UTC; the whole benchmark took {data['took']:.0f} s.",
        "",
        "## Summary",
        "",
        f"Measured on {data['started']:%Y-%m-%d %H:%M} UTC, the stack in {data['mode']} mode. Ratios: median\n"
        f"reference time / median stack time over {data['runs']} alternating runs of a "
        f"{data['layer_size'] // MIB} MiB layer\n(above 1: the stack is faster); issue 13 asks for at least 0.90.",
        "",
        summary_table(metrics),
        "",
        *context_lines(
            "##",
            data["machine"],
            "The clients (skopeo), the stack and the reference registry all ran on this machine and shared its cores.",
            data["settings"],
        ),
        "## Results",
        "",
        "### Push and pull of one layer",
        "",
        "Medians of the successful runs:",
        "",
        median_table(transfers, size),
        "",
        "Every run, in the order they ran (MiB through skopeo: bytes it wrote to the network for a push, read",
        "for a pull, from `/proc/<pid>/io`; a push that wrote less than the layer did not upload it):",
        "",
        transfer_table(transfers, size),
        "",
    ]
    lines += [
        "### Where the CPU went",
        "",
        "Cores used during the transfers (CPU seconds / seconds, summed over the successful runs of each kind),",
        "by process name, from `/proc`. Everything on the machine counts,",
        "other work included.",
        "",
        cpu_table(cpu_columns(transfers)),
        "",
    ]
    if pushers:
        lines += [
            "### Concurrent pushers",
            "",
            "Distinct images pushed at once, each to its own repository; aggregate MiB/s is the layers pushed",
            "without error over the wall time from the first start to the last exit.",
            "",
            pushers_table(pushers),
            "",
        ]
    notes = [f"run {t.run}, {t.side} {t.what}: {t.error}" for t in errors]
    for p in pushers:
        notes += [f"pushers to the {p.side}: {e}" for e in p.errors]
        if p.left:
            notes.append(f"pushers to the {p.side}: could not delete {len(p.left)} repositories ({', '.join(p.left)})")
    lines += ["## Notes", "", *(f"- {n}" for n in notes), ""] if notes else ["No errors.", ""]
    before = before_section(old, move_summary, utc_now())
    return "\n".join(lines) + ("\n" + before if before else "")


# -- main ----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="push+pull runs per side (default %(default)s)")
    parser.add_argument("--size-mib", type=int, default=1024, help="layer size in MiB (default %(default)s)")
    parser.add_argument("--pushers", type=int, default=20, help="concurrent pushers (default %(default)s)")
    parser.add_argument("--pusher-size-mib", type=int, default=50, help="layer per pusher (default %(default)s)")
    parser.add_argument("--skip-pushers", action="store_true", help="measure push and pull only")
    parser.add_argument(
        "--pushers-reference", action="store_true", help="run the concurrent pushers against the reference too"
    )
    parser.add_argument("--transfer-timeout", type=float, default=900, help="seconds per skopeo (default 900)")
    parser.add_argument("--secrets-dir", type=Path, default=DEFAULT_SECRETS, help="default %(default)s")
    parser.add_argument("--registry", default=DEFAULT_NAME, help="the stack's name (default %(default)s)")
    parser.add_argument("--user", default=DEFAULT_USER, help="the admin (default %(default)s)")
    parser.add_argument("--image", default=REGISTRY_IMAGE, help="reference registry image (default %(default)s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results file (default: %(default)s)")
    parser.add_argument(
        "--before", action="store_true", help="add the replaced file's summary to its ## Before section"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.size_mib < 1 or args.pushers < 1 or args.pusher_size_mib < 1:
        parser.error("--runs, --size-mib, --pushers and --pusher-size-mib must be at least 1")
    return args


def benchmark(args: argparse.Namespace, workdir: Path, reference: Reference) -> dict:
    stack = Stack.from_checkout(args.secrets_dir, args.registry, args.user)
    stack_registry = Registry.of(stack)
    scheme, _params = stack_registry.challenge()
    mode = {"bearer": "token", "basic": "basic (htpasswd)"}.get(scheme, f"unexpected ({scheme})")
    log(f"the stack at {stack.address} asks for {scheme} auth: {mode} mode")
    stack_certs = workdir / "certs-stack"
    stack_certs.mkdir()
    shutil.copyfile(stack.ca_file, stack_certs / "ca.crt")
    server_cert = args.secrets_dir / "pki" / "server.crt"
    ref_certs = workdir / "certs-reference"
    cert, _key = write_reference_certificate(ref_certs, server_cert if server_cert.is_file() else stack.ca_file)
    log(f"starting the reference registry ({reference.name}, {reference.image})")
    reference.start(ref_certs)
    log(f"reference registry on 127.0.0.1:{reference.port}")
    # skopeo reads every *.key in its cert dir as a client key: the reference's CA goes in a directory of its own.
    ref_client_certs = workdir / "certs-reference-client"
    ref_client_certs.mkdir()
    shutil.copyfile(cert, ref_client_certs / "ca.crt")
    sides = {
        "stack": Side("stack", stack.address, stack_certs, stack.write_authfile(workdir / "auth.json"), stack_registry),
        "reference": Side(
            "reference",
            f"127.0.0.1:{reference.port}",
            ref_client_certs,
            None,
            Registry("127.0.0.1", reference.port, cert),
        ),
    }

    log(f"writing a {args.size_mib} MiB layer")
    image = write_image(workdir / "image", args.size_mib)
    transfers: list[Transfer] = []
    for run in range(1, args.runs + 1):
        order = ("stack", "reference") if run % 2 else ("reference", "stack")
        for key in order:
            transfers += push_and_pull(sides[key], image, run, workdir, args)
    shutil.rmtree(image.path, ignore_errors=True)

    pushers: list[Pushers] = []
    if not args.skip_pushers:
        log(f"writing {args.pushers} layers of {args.pusher_size_mib} MiB")
        images = [write_image(workdir / f"pusher-{i + 1:02d}", args.pusher_size_mib) for i in range(args.pushers)]
        for key in ("stack", "reference") if args.pushers_reference else ("stack",):
            pushers.append(concurrent_pushes(sides[key], images, workdir, args))
        for pushed_image in images:
            shutil.rmtree(pushed_image.path, ignore_errors=True)

    versions = image_versions()
    info = machine()
    info["Tools"] = (
        f"{command_output('skopeo', '--version')}; nginx {versions['nginx']}; registry {versions['registry']}"
    )
    settings = {
        "stack": f"{stack.address}, {mode} mode, user `{stack.user}`",
        "stack path": stack_path(stack),
        "reference": f"image {reference.image} serving TLS itself, no auth, `--network host` on "
        f"127.0.0.1:{reference.port} (no docker-proxy): client -> 127.0.0.1:{reference.port} -> registry",
        "TLS keys": f"stack {describe_key(server_cert) if server_cert.is_file() else 'unknown'}, "
        f"reference {describe_key(cert)} (made for this run)",
        "layer": f"one {args.size_mib} MiB file of random data in an uncompressed tar layer ({OCI_LAYER}, "
        f"{image.layer_size} bytes) in an OCI image ({OCI_MANIFEST})",
        "push": "`skopeo copy --preserve-digests dir:... docker://...` (the layer goes as it is: no compression), "
        "to `dockyard-bench/transfer-<side>`; the image (manifest and blob links) is deleted after each pull, so "
        "that no push can skip or mount the layer: each push wrote at least the layer's size (see the table)",
        "pull": "`skopeo copy docker://... dir:...` into a new directory, deleted afterwards",
        "runs": f"{args.runs} per side, alternating (odd runs: stack first; even runs: reference first); "
        "`sync` before each transfer",
        "pushers": "skipped"
        if args.skip_pushers
        else f"{args.pushers} skopeo pushes at once, each of its own {args.pusher_size_mib} MiB random layer, "
        "to its own repository (`dockyard-bench/pusher-<n>`), deleted afterwards",
    }
    return {
        "mode": mode,
        "runs": args.runs,
        "transfers": transfers,
        "pushers": pushers,
        "layer_size": image.layer_size,
        "machine": info,
        "settings": settings,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started, clock, load = utc_now(), time.monotonic(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-transfer-"))
    reference = Reference(name=f"dockyard-bench-transfer-{secrets.token_hex(4)}", image=args.image)
    try:
        with exit_status():
            data = benchmark(args, workdir, reference)
    finally:
        stop_running()
        delete_leftovers()
        log(f"removing {reference.name} and {workdir}")
        reference.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    data["started"], data["took"] = started, time.monotonic() - clock
    data["machine"]["Checkout"] = checkout_state(ROOT)
    data["machine"]["Load average before the run"] = load
    old = read_text(args.output)
    write_results(args.output, report(data, old, args.before))
    print(median_table(data["transfers"], data["layer_size"]))
    found = ratios(data["transfers"])
    print(f"push_ratio {fmt(found['push'])}, pull_ratio {fmt(found['pull'])} ({data['mode']} mode)")
    if data["pushers"]:
        print(pushers_table(data["pushers"]))
    print(f"took {data['took']:.0f} s; results in {args.output}")
    failed = any(t.error for t in data["transfers"]) or any(p.errors for p in data["pushers"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
