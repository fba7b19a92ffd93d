# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the benchmarks of the deployed stack write: the machine's description and the results files.

A results file is Markdown in sections (``## ...`` headings). Its ``## Summary`` holds a
``| metric | value |`` table of the latest run; ``## Before`` holds earlier figures, which a rewrite
keeps as they are (and ``--before`` adds the replaced file's summary to). Also the self-signed
certificates the benchmarks make for the servers they start. Used by bench/transfer.py,
bench/auth_rate.py and bench/token_server.py.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

SUMMARY = "Summary"
BEFORE = "Before"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- the machine ---------------------------------------------------------------------------------
def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _field(text: str, key: str, sep: str = ":") -> str:
    for line in text.splitlines():
        name, found, value = line.partition(sep)
        if found and name.strip() == key:
            return value.strip().strip('"')
    return ""


def command_output(*argv: str, timeout: int = 60) -> str:
    """The first line a command prints (stdout, else stderr), or "unknown" when it cannot run."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            if line.strip():
                return line.strip()
    return "unknown"


def machine(docker: bool = True) -> dict[str, str]:
    """CPU, memory, OS and kernel, the docker engine and client (unless ``docker`` is false), Python."""
    cpuinfo = _read("/proc/cpuinfo")
    cpu = _field(cpuinfo, "model name") or _field(cpuinfo, "Model") or platform.processor() or "unknown"
    mem_kb = _field(_read("/proc/meminfo"), "MemTotal").split()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores ({usable} usable by this process)",
        "Memory": f"{int(mem_kb[0]) / 1024 / 1024:.1f} GiB" if mem_kb else "unknown",
        "OS": f"{_field(_read('/etc/os-release'), 'PRETTY_NAME', '=') or platform.system()}, "
        f"kernel {platform.release()} ({platform.machine()})",
    }
    if docker:
        info["Docker"] = (
            "engine "
            + command_output("docker", "version", "--format", "{{.Server.Version}}")
            + ", client "
            + command_output("docker", "version", "--format", "{{.Client.Version}}")
        )
    info["Python"] = platform.python_version()
    return info


def checkout_state(root: Path) -> str:
    """The checkout's commit, and the top-level directories with uncommitted changes (what `make run` deployed
    may differ: it deploys the work tree as it was then)."""
    commit = command_output("git", "-C", str(root), "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        changed = sorted({line[3:].split("/", 1)[0] + ("/" if "/" in line[3:] else "") for line in status.splitlines()})
        if changed:
            return f"{commit}, uncommitted changes in {', '.join(changed)}"
    return commit


def load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"


# -- certificates for the servers a benchmark starts -----------------------------------------------
def self_signed(
    key, common_name: str, *, days: int = 1, extensions: Iterable[tuple[x509.ExtensionType, bool]] = ()
) -> x509.Certificate:
    """A certificate for ``key`` signed by itself (SHA-256), valid from five minutes ago for ``days``; each
    of ``extensions`` is (extension, critical)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256())


def write_key_and_certificate(key, cert: x509.Certificate, key_path: Path, cert_path: Path) -> None:
    """The key as unencrypted PKCS #8 PEM readable by its owner only, the certificate as PEM."""
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# -- where the CPU goes --------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _label(pid: Path, comm: str) -> str:
    if "/" in comm:  # kernel threads: kworker/1:1H-kblockd -> kworker
        return comm.split("/", maxsplit=1)[0]
    if comm.startswith("python"):
        try:
            cmdline = (pid / "cmdline").read_bytes()
        except OSError:
            return comm
        return "dockyard-auth" if b"dockyard_auth" in cmdline else comm
    return comm


def cpu_by_process(children: str) -> collections.Counter:
    """CPU seconds (user + system) used so far by every process on the machine, summed by name; the
    benchmark's own reaped children (wrk, skopeo) under the name ``children``."""
    totals: collections.Counter = collections.Counter()
    for pid in Path("/proc").iterdir():
        if not pid.name.isdigit():
            continue
        try:
            stat = (pid / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        totals[_label(pid, comm)] += (int(rest[11]) + int(rest[12])) / CLOCK_TICKS
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals[children] += usage.ru_utime + usage.ru_stime
    return totals


class CpuMeter:
    """CPU seconds by process name over a ``with`` block (processes that ended inside it and are not our
    children are missed; one that started inside it counts from zero)."""

    def __init__(self, children: str) -> None:
        self.children = children
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self.before = cpu_by_process(self.children)
        return self

    def __exit__(self, *_exc) -> None:
        after = cpu_by_process(self.children)
        self.used = {name: max(0.0, after[name] - self.before.get(name, 0.0)) for name in after}


def cpu_table(columns: list[tuple[str, dict[str, float], float]], shown: int = 8) -> str:
    """Cores used (CPU seconds / wall seconds) by the busiest process names, one column per measured part:
    (title, CPU seconds by name, wall seconds)."""
    busiest = collections.Counter()
    for _title, used, _seconds in columns:
        busiest.update(used)
    names = [name for name, total in busiest.most_common() if total > 0][:shown]
    rows = []
    for name in [*names, "all others", "total"]:
        cells = []
        for _title, used, seconds in columns:
            if name == "total":
                value = sum(used.values())
            elif name == "all others":
                value = sum(v for n, v in used.items() if n not in names)
            else:
                value = used.get(name, 0.0)
            cells.append(f"{value / seconds:.2f}" if seconds else "-")
        rows.append((name, *cells))
    return table(("process", *(title for title, _used, _seconds in columns)), rows)


# -- tables --------------------------------------------------------------------------------------
def table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 1) -> str:
    """A Markdown table padded to read well on a terminal; the first ``left`` columns align left."""
    everything = [header, *rows]
    widths = [max(3, *(len(row[i]) for row in everything)) for i in range(len(header))]
    rule = tuple("-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths))
    lines = []
    for row in [header, rule, *rows]:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def context_lines(level: str, machine_info: dict, shared: str, settings: dict) -> list[str]:
    """A results file's Machine and Settings sections (headings at ``level``, e.g. "##"), with what shared the cores."""
    return [
        f"{level} Machine",
        "",
        *(f"- {key}: {value}" for key, value in machine_info.items()),
        "",
        shared,
        "",
        f"{level} Settings",
        "",
        *(f"- {key}: {value}" for key, value in settings.items()),
        "",
    ]


def summary_table(metrics: list[tuple[str, str]]) -> str:
    return table(("metric", "value"), metrics, left=1)


# -- results files -------------------------------------------------------------------------------
def sections(text: str) -> list[tuple[str, str]]:
    """(heading, block) for each ``## `` section, the block with its heading line; ("", ...) first for
    whatever comes before the first heading."""
    found: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if line.startswith("## "):
            found.append((line[3:].strip(), []))
        found[-1][1].append(line)
    return [(heading, "\n".join(lines).rstrip() + "\n") for heading, lines in found if heading or any(lines)]


def section(text: str, heading: str) -> str:
    """The block of the first section with this heading, or ""."""
    return next((block for name, block in sections(text) if name == heading), "")


def summary_metrics(text: str) -> dict[str, str]:
    """metric -> value from the ``## Summary`` table of a results file."""
    metrics = {}
    for line in section(text, SUMMARY).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in {"metric", ""} and not set(cells[0]) <= {"-", ":"}:
            metrics[cells[0]] = cells[1]
    return metrics


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def before_section(old: str, move_summary: bool, now: dt.datetime) -> str:
    """The ``## Before`` section for a rewrite: the old file's, kept as it is; with ``move_summary``, the
    old file's ``## Summary`` (text and table, which say when and how it was measured) added on top."""
    kept = section(old, BEFORE)
    body = kept.split("\n", 1)[1].strip("\n") if kept else ""
    old_summary = section(old, SUMMARY)
    if move_summary and old_summary:
        moved = f"### Summary replaced on {now:%Y-%m-%d %H:%M} UTC\n\n" + old_summary.split("\n", 1)[1].strip("\n")
        body = moved + ("\n\n" + body if body else "")
    return f"## {BEFORE}\n\n{body}\n" if body else ""


def write_results(path: Path, text: str) -> None:
    """Replace the results file at once (a partial file never stands in its place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")  # ignored by git; renamed once complete
    partial.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    partial.replace(path)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
