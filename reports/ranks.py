"""Columns for cases on several ranks (gpus=N > 1, torchrun + FSDP2): world size, memory per
rank, throughput per GPU. Shown only in tables where some row ran on more than one rank.

Reads ``extra_info`` keys only: ``world_size``, ``per_rank_peak_gpu_allocated_bytes`` (else
``per_rank_peak_cpu_rss_bytes``) and ``steady_tokens_per_second_per_gpu``. A one-process
case has world size 1: its throughput per GPU is its throughput, its memory its peak.
"""

from reports import fmt
from reports.model import Cell, Column

COLUMNS = [
    Column("ranks", "Ranks (GPUs, or CPU processes)", None),
    Column("rate_gpu", "Tokens/s per rank (steady state)", "high"),
    Column("rank_mem", "Peak memory per rank (MiB: GPU, else CPU RSS)", None),
]
KEYS = [c.key for c in COLUMNS]


def get_world_size(extra: dict) -> int:
    """The ranks a case ran on (1 for every one-process case)."""
    value = extra.get("world_size")
    return int(value) if fmt.is_num(value) and value >= 1 else 1


def get_per_rank_memory(extra: dict) -> list:
    """Peak bytes per rank, in rank order: GPU allocated where measured, else CPU RSS."""
    for key in ("per_rank_peak_gpu_allocated_bytes", "per_rank_peak_cpu_rss_bytes"):
        values = extra.get(key)
        if isinstance(values, list) and values and all(fmt.is_num(v) for v in values):
            return values
    single = extra.get("peak_gpu_allocated_bytes") or extra.get("peak_cpu_rss_bytes")
    return [single] if fmt.is_num(single) else []


def make_cells(rows: list) -> dict:
    """The three cells of one method group (its rows share a world size: it is in the group key)."""
    world = get_world_size(rows[0].extra)
    rates = []
    for r in rows:
        per_gpu = r.extra.get("steady_tokens_per_second_per_gpu")
        whole = r.extra.get("steady_tokens_per_second")
        rate = per_gpu if fmt.is_num(per_gpu) else whole / get_world_size(r.extra) if fmt.is_num(whole) else None
        if rate is not None:
            rates.append(rate)
    rate = sum(rates) / len(rates) if rates else None
    memory = get_per_rank_memory(rows[0].extra)
    return {
        "ranks": Cell(str(world), world, note="torchrun + FSDP2" if world > 1 else "one process"),
        "rate_gpu": Cell(fmt.get_count(rate), rate, note="the whole case's tokens/s over its ranks"),
        "rank_mem": Cell(" / ".join(fmt.get_mib(v) for v in memory) or fmt.DASH, max(memory) if memory else None,
                         note="rank 0 / rank 1 / ... (first seed)"),
    }


def is_shown(rows: list) -> bool:
    """Whether a table needs these columns: some row ran on more than one rank."""
    return any(get_world_size(r.extra) > 1 for r in rows)
