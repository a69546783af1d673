"""Usage: python results/h200-instruct/summary.py OUT

One line per case of the ``*-seed*.json`` files in OUT: status, accuracy (or, for a case that
stopped early, the accuracy of the model as trained so far), zero-shot accuracy, steps, time,
compute sparsity and the last loss reading.
"""

import glob
import json
import sys


def main(out: str) -> None:
    for path in sorted(glob.glob(f"{out}/*-seed*.json")):
        for bench in json.load(open(path))["benchmarks"]:
            e = bench["extra_info"]
            stopped = (e.get("quality_at_stop") or {}).get("accuracy")
            print(f"{e['case_id']}: {e.get('status')} acc {e.get('accuracy')} "
                  f"{f'(when stopped {stopped}) ' if stopped is not None else ''}zero-shot {e.get('accuracy_zero_shot')} "
                  f"f1 {e.get('f1')} steps {e.get('train_steps') or e.get('failed_at_step')} "
                  f"train {e.get('train_seconds')} s compute sparsity {e.get('compute_sparsity')} "
                  f"last loss {(e.get('loss_curve') or [[None, None]])[-1]}")


if __name__ == "__main__":
    main(sys.argv[1])
