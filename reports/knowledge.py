"""What the project knows beyond a run's results, kept as data in reports/ (never in code):

- ``knowledge.json``: measured quality for methods on tasks where a tier measures cost only
  (random-init shapes), each with the results file or doc it comes from;
- ``families.json``: method -> family, for grouping the verdict at many methods.
"""

import functools
import json
from pathlib import Path

from reports.load import Row

HERE = Path(__file__).parent
OTHER = "other"


@functools.cache
def get_entries() -> tuple:
    return tuple(json.loads((HERE / "knowledge.json").read_text(encoding="utf-8"))["entries"])


@functools.cache
def get_families() -> dict:
    return json.loads((HERE / "families.json").read_text(encoding="utf-8"))["families"]


def get_known_quality(method: str, dataset: str) -> str:
    """"known: TEXT (source: SOURCE)" for a method on a dataset, "" where nothing is recorded."""
    found = [e for e in get_entries() if e["method"] == method and e["dataset"] == dataset]
    return "; ".join(f"known: {e['text']} (source: {e['source']})" for e in found)


def get_family(row: Row) -> str:
    """The result's own ``method_family`` where recorded, else families.json (by the method's name
    without its variant: "lora+tuned" is LoRA's), else "other"."""
    return row.extra.get("method_family") or get_families().get(row.method.partition("+")[0], OTHER)
