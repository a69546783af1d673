"""STYLE #1: reports/ reads JSON only; it imports neither bench/ nor methods/ (nor fixtures/, torch)."""

import ast
from pathlib import Path

import pytest

REPORTS = Path(__file__).parent.parent / "reports"
FORBIDDEN = {"bench", "methods", "fixtures", "torch", "transformers", "peft"}


@pytest.mark.parametrize("path", sorted(REPORTS.glob("*.py")), ids=lambda p: p.name)
def test_reports_import_no_benchmark_code(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"{path.name} imports {sorted(imported & FORBIDDEN)}"


@pytest.mark.parametrize("path", sorted(REPORTS.glob("*.py")), ids=lambda p: p.name)
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) < 400
