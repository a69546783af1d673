"""Usage: python results/h200-tune/merge.py OUT.json WORKER.json [...]

One pytest-benchmark JSON from several workers' files of one run (the first file's machine
and commit info, every file's benchmarks), so that one file comes back and one report reads it.
"""

import json
import sys


def main(out: str, paths: list[str]) -> None:
    merged = None
    for path in sorted(paths):
        try:
            data = json.load(open(path))
        except (OSError, json.JSONDecodeError) as e:  # a worker killed before it wrote its file
            print(f"{path}: skipped ({e})")
            continue
        if merged is None:
            merged = data
        else:
            merged["benchmarks"] += data["benchmarks"]
    if merged is None:
        sys.exit("no worker results to merge")
    json.dump(merged, open(out, "w"))
    print(f"{out}: {len(merged['benchmarks'])} cases from {len(paths)} files")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
