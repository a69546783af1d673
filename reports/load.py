"""Read pytest-benchmark JSON files into flat rows (one per benchmarked case and seed).

Only ``json`` is needed: the report never imports the benchmark code (STYLE #1).
Older files and other statuses lack keys; every field but the identity is optional.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from reports.journal import PATTERN as JOURNAL_PATTERN
from reports.journal import read_journal

# Statuses that still carry a measured quality (a missed floor is a result, not an absence).
MEASURED_STATUSES = ("passed", "failed_floor")
RUN_ID = re.compile(r"^\d{4}$")


class ReportInputError(Exception):
    """An input file is missing, empty, truncated, or not pytest-benchmark output."""


@dataclass(frozen=True)
class Source:
    """One input file's provenance.

    Args:
        path: the file as given.
        machine_info: pytest-benchmark's machine_info plus the suite's additions.
        commit_info: pytest-benchmark's commit_info.
        datetime: when the run was saved (ISO text).
        version: pytest-benchmark's version.
        n_benchmarks: number of benchmarks in the file.
    """

    path: str
    machine_info: dict
    commit_info: dict
    datetime: str
    version: str
    n_benchmarks: int


@dataclass(frozen=True)
class Row:
    """One benchmark (one case at one seed), flattened.

    Args:
        case_id: e.g. "lora-sst2-tiny-cpu-seed0" (the test name when extra_info lacks it).
        method, dataset, tier, hardware, model: the case's identity ("?" where unknown).
        seed: the seed (None where unknown).
        status: "passed", "failed_floor", "oom", "diverged", "timeout", "bad_input" (a model
            or dataset given that cannot be used), "error" (a bug, with its message), "skipped"
            or "unknown".
        latency: pytest-benchmark's inference latency stats (seconds).
        extra: the benchmark's extra_info, untouched.
        source: the file it came from.
    """

    case_id: str
    method: str
    dataset: str
    tier: str
    hardware: str
    model: str
    seed: int | None
    status: str
    latency: dict
    extra: dict = field(repr=False)
    source: Source = field(repr=False)

    def get(self, key: str, default=None):
        """An extra_info value, or ``default`` when absent or null."""
        value = self.extra.get(key)
        return default if value is None else value

    @property
    def group(self) -> tuple:
        """What seeds are aggregated over: same method, dataset, model, hardware, tier and
        world size (ranks; a case on 2 GPUs is not a seed of its one-GPU run)."""
        return (self.dataset, self.method, self.model, self.hardware, self.tier, self.extra.get("world_size") or 1)

    @property
    def peak_gpu(self):
        """Peak GPU memory: torch's allocated peak, else reserved, else NVML's process figure."""
        for key in ("peak_gpu_allocated_bytes", "peak_gpu_reserved_bytes", "peak_gpu_nvml_bytes"):
            value = self.extra.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
        return None

    @property
    def measured(self) -> bool:
        return self.status in MEASURED_STATUSES


def get_newest_saved(folder: Path) -> Path | None:
    """The newest run saved in a pytest-benchmark storage folder (``MACHINE/NNNN_*.json``, by
    modification time), the journal of a killed run counting as one; None when it holds none."""
    files = sorted([*folder.glob("*/*.json"), *folder.glob(f"*/{JOURNAL_PATTERN}")], key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def get_default_input(root: str | Path = ".") -> Path:
    """The newest saved run under ``root/.benchmarks``; the journal of a killed run counts as a
    saved run (its finished cases are recovered from it)."""
    newest = get_newest_saved(Path(root, ".benchmarks"))
    if newest is None:
        raise ReportInputError(
            f"no results given and none saved under {Path(root, '.benchmarks')}; run "
            "`pytest bench -m smoke --benchmark-autosave` or pass RESULT.json"
        )
    return newest


def resolve_folder(folder: Path) -> Path:
    """A folder given as a result: the newest run saved in it as a storage folder (what
    ``--benchmark-storage=FOLDER`` wrote), else a usage error saying what to pass."""
    newest = get_newest_saved(folder)
    if newest is not None:
        return newest
    inside = sorted(p.name for p in folder.glob("*.json"))[:3]
    hint = f" (it holds {', '.join(inside)}{', ...' if len(inside) == 3 else ''}: pass them, e.g. {folder}/*.json)" \
        if inside else ""
    raise ReportInputError(f"{folder}: a folder with no saved run (MACHINE/NNNN_*.json) in it{hint}")


def resolve_run(ref: str, root: str | Path = ".") -> Path:
    """A path, a storage folder (its newest saved run), or a saved run id like ``0001`` looked up
    under ``root/.benchmarks``."""
    if RUN_ID.match(ref) and not Path(ref).exists():
        found = sorted(Path(root, ".benchmarks").glob(f"*/{ref}_*.json"))
        if not found:
            raise ReportInputError(f"no saved run {ref} under {Path(root, '.benchmarks')} (expected {ref}_*.json)")
        if len(found) > 1:
            raise ReportInputError(f"run id {ref} is ambiguous: {', '.join(map(str, found))}; pass the path")
        return found[0]
    return resolve_folder(Path(ref)) if Path(ref).is_dir() else Path(ref)


def read_json(path: Path) -> dict:
    """The parsed file, or a ReportInputError saying what is wrong with it."""
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file")
    if path.suffix == ".jsonl":  # a killed run's journal (reports.journal)
        try:
            return read_journal(path)
        except (OSError, ValueError) as exc:
            raise ReportInputError(str(exc)) from None
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise ReportInputError(f"{path}: file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON (truncated?) at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) or "machine_info" not in data:
        raise ReportInputError(
            f"{path}: not a pytest-benchmark result (expected top-level 'machine_info' and a 'benchmarks' list)"
        )
    return data


def get_portable_path(path: str | Path) -> str:
    """A path as the report shows it: relative to the current folder when under it, else with
    the home folder as ``~`` (the rule results files follow; no absolute home paths)."""
    absolute = Path(os.path.abspath(path))
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~")):
        try:
            rest = absolute.relative_to(base)
        except ValueError:
            continue
        return str(Path(prefix, rest)) if prefix else str(rest)
    return str(path)


def check_entry(bench: dict, index: int, path: Path) -> None:
    """A benchmark entry's nested parts have the shapes pytest-benchmark writes."""
    for key in ("extra_info", "stats"):
        value = bench.get(key)
        if value is not None and not isinstance(value, dict):
            raise ReportInputError(
                f"{path}: benchmark {index} ({bench.get('name', '?')}): {key} is a {type(value).__name__}, "
                "expected an object (not pytest-benchmark output?)"
            )


def make_row(bench: dict, source: Source) -> Row:
    """Flatten one benchmark entry."""
    extra = bench.get("extra_info") or {}
    name = bench.get("name", "?")
    case_id = extra.get("case_id") or re.sub(r"^.*\[(.*)\]$", r"\1", name)
    seed = extra.get("seed")
    variant = extra.get("variant")  # a second case of one method and model (e.g. "gc"): its own group
    return Row(
        case_id=str(case_id),
        method=str(extra.get("method", "?")) + (f"+{variant}" if variant else ""),
        dataset=str(extra.get("dataset", "?")),
        tier=str(extra.get("tier", "?")),
        hardware=str(extra.get("hardware", "?")),
        model=str(extra.get("model", "?")),
        seed=int(seed) if isinstance(seed, (int, float)) else None,
        status=str(extra.get("status", "unknown")),
        latency=bench.get("stats") or {},
        extra=extra,
        source=source,
    )


def load_file(path: str | Path) -> list[Row]:
    """Rows of one file."""
    path = Path(path)
    data = read_json(path)
    for index, bench in enumerate(data["benchmarks"]):
        if isinstance(bench, dict):
            check_entry(bench, index, path)
    source = Source(
        path=get_portable_path(path),
        machine_info=data["machine_info"] if isinstance(data.get("machine_info"), dict) else {},  # a string: none
        commit_info=data.get("commit_info") or {},
        datetime=str(data.get("datetime", "")),
        version=str(data.get("version", "")),
        n_benchmarks=len(data["benchmarks"]),
    )
    return [make_row(b, source) for b in data["benchmarks"] if isinstance(b, dict)]


def get_entry_key(row: Row) -> tuple:
    """What makes two rows the same run: case, seed, and every recorded value and timing."""
    return (row.case_id, row.seed, json.dumps(row.extra, sort_keys=True, default=str),
            json.dumps(row.latency, sort_keys=True, default=str))


def load_unique(paths: list[str | Path]) -> tuple[list[Row], list[str]]:
    """Rows of every file, merged, with duplicates left out: a file given twice is read once,
    and identical case entries (the same run copied into two files) count once, so that
    copies never pass for independent seeds. Also what was left out, in words."""
    if not paths:
        raise ReportInputError("no input files")
    notes, seen_files, rows, seen_rows, dropped = [], set(), [], set(), []
    for p in paths:
        real = os.path.realpath(p)
        if real in seen_files:
            notes.append(f"{get_portable_path(p)} was given more than once; it is read once.")
            continue
        seen_files.add(real)
        for row in load_file(p):
            key = get_entry_key(row)
            if key in seen_rows:
                dropped.append(row.case_id)
                continue
            seen_rows.add(key)
            rows.append(row)
    if dropped:
        notes.append(f"{len(dropped)} identical duplicate run(s) counted once (same case, seed and results in "
                     f"two files, not independent seeds): {', '.join(sorted(set(dropped)))}.")
    if not rows:
        raise ReportInputError(f"no benchmarks in {', '.join(map(str, paths))} (did every case skip or error?)")
    return rows, notes


def load(paths: list[str | Path]) -> list[Row]:
    """Rows of every file, merged (shards, machines and repeated runs become one list;
    duplicates of one run count once, see load_unique)."""
    return load_unique(paths)[0]
