"""The per-case journal a run writes as each case ends, read back as a results file.

A benchmark run appends one JSON line per finished case to ``journal_<time>_<pid>.jsonl``
beside its autosave (``fixtures/run/journal.py``), fsync'd, and deletes it once the results
file is saved. A journal left behind is a run that was killed (SIGKILL, the OOM killer,
power loss): its first line is a header (machine and commit facts, as in a results
file), each further line one case in pytest-benchmark's layout. A last line cut off by
the kill is left out. Only the standard library: the report reads these files too.
"""

import json
from pathlib import Path

HEADER_KEY = "peft_bench_journal"  # the header line's marker (its value: the format version)
PATTERN = "journal_*.jsonl"


def read_journal(path: str | Path) -> dict:
    """The journal as a pytest-benchmark results dict (``benchmarks`` = the finished cases).

    Raises ValueError when the file is no journal (no header line)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the line being written when the run was killed
                break
            raise ValueError(f"{path}: line {number} is not JSON") from None
    if not records or not isinstance(records[0], dict) or HEADER_KEY not in records[0]:
        raise ValueError(f"{path}: not a peft-bench journal (no header line with {HEADER_KEY!r})")
    header = records[0]
    return {
        "machine_info": header.get("machine_info") or {},
        "commit_info": header.get("commit_info") or {},
        "datetime": header.get("datetime", ""),
        "version": header.get("version", ""),
        "recovered_from": str(path),
        "benchmarks": [r for r in records[1:] if isinstance(r, dict)],
    }
