"""A case's own CPU memory: the increase of the process's RSS over the case's start.

The process RSS a case ends at is also where the next case starts (Python seldom returns
freed memory), so the process peak compounds across cases; the per-case increase does not.
"""

from reports import fmt
from reports.load import Row


def get_case_rss(row: Row):
    """``case_cpu_rss_bytes``, else peak minus start for older files, else None."""
    value = row.extra.get("case_cpu_rss_bytes")
    if fmt.is_num(value):
        return value
    peak, start = row.extra.get("peak_cpu_rss_bytes"), row.extra.get("cpu_rss_start_bytes")
    return peak - start if fmt.is_num(peak) and fmt.is_num(start) else None
