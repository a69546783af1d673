"""Where ``python -m bench.shard`` runs its workers: this machine, or a SLURM job array.

``--executor local`` (the default) starts one pytest process per GPU of this machine
(``bench.shard.run_workers``). ``--executor slurm`` submits ``--tasks N`` workers as one
SLURM job array through submitit (``pip install peft-bench[cluster]``): each array task
gets one GPU and runs the same worker (``pytest ... --claim-dir OUT/claims``) on the
shared ``--out`` folder, so the claims balance the cases across tasks as across local
GPUs. ``--executor submitit-local`` runs the same array through submitit's local
executor (processes on this machine): the SLURM path, testable without a scheduler.

A re-run with the same ``--out`` first records the cases that a killed worker left
unfinished as ``interrupted`` (``fixtures.run.claims.release_unfinished``), then runs only
the cases no worker finished. ``--collect DIR`` merges what is there and lists what has
not finished.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from fixtures.run.claims import read_claims, read_interrupted, read_selection, read_unfinished

EXECUTORS = ("local", "slurm", "submitit-local")
CLUSTER_EXTRA = "pip install 'peft-bench[cluster]' (or: pip install submitit)"


def add_options(parser) -> None:
    """The executor's options on ``python -m bench.shard``'s parser."""
    g = parser.add_argument_group("cluster (--executor slurm)")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: one worker per GPU here (default); slurm: a SLURM job array through "
                        "submitit; submitit-local: the same array as local processes (tests)")
    g.add_argument("--tasks", type=int, default=None, metavar="N",
                   help="array tasks (workers, one GPU each) to submit; required with --executor slurm")
    g.add_argument("--max-concurrent", type=int, default=None, metavar="N",
                   help="at most N array tasks running at once (sbatch --array=...%%N)")
    g.add_argument("--partition", default=None, help="SLURM partition (sbatch --partition)")
    g.add_argument("--account", default=None, help="SLURM account (sbatch --account)")
    g.add_argument("--time-min", type=int, default=240, metavar="MIN",
                   help="time limit per array task in minutes (default 240)")
    g.add_argument("--cpus-per-task", type=int, default=8, metavar="N", help="CPU cores per task (default 8)")
    g.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, repeatable: --sbatch constraint=h100 --sbatch qos=high")
    g.add_argument("--collect", type=Path, default=None, metavar="DIR",
                   help="merge the results already in DIR into its report and list what has not finished; "
                        "submits nothing")


def check_options(args) -> str | None:
    """A usage error for bad cluster options, else None (before anything is submitted)."""
    if args.executor == "local":
        return None
    try:
        import submitit  # noqa: F401
    except ImportError:
        return f"--executor {args.executor} needs submitit: {CLUSTER_EXTRA}"
    if args.tasks is None or args.tasks < 1:
        return f"--executor {args.executor} needs --tasks N (N >= 1 array tasks, one GPU each)"
    if args.max_concurrent is not None and args.max_concurrent < 1:
        return f"--max-concurrent {args.max_concurrent}: expected N >= 1"
    bad = [o for o in args.sbatch if "=" not in o or not o.partition("=")[0]]
    if bad:
        return f"--sbatch {bad[0]}: expected KEY=VALUE, e.g. --sbatch constraint=h100"
    if args.executor == "slurm" and shutil.which("sbatch") is None:
        return "--executor slurm: sbatch is not on PATH; run this on a SLURM login node (nothing was submitted)"
    return None


def get_executor(args, out: Path):
    """The submitit executor for ``args``, its logs in ``OUT/submitit``."""
    import submitit

    cluster = "slurm" if args.executor == "slurm" else "local"
    executor = submitit.AutoExecutor(folder=out / "submitit" / "%j", cluster=cluster)
    params = {"timeout_min": args.time_min, "tasks_per_node": 1, "nodes": 1, "name": "peft-bench"}
    if cluster == "slurm":
        params.update(gpus_per_node=1, cpus_per_task=args.cpus_per_task,
                      slurm_additional_parameters=dict(o.split("=", 1) for o in args.sbatch))
        params.update({k: v for k, v in (("slurm_partition", args.partition), ("slurm_account", args.account),
                                         ("slurm_array_parallelism", args.max_concurrent)) if v is not None})
    elif args.max_concurrent is not None:
        params["local_array_parallelism"] = args.max_concurrent  # ignored by older submitit
    try:
        executor.update_parameters(**params)
    except ValueError:  # local_array_parallelism unknown
        params.pop("local_array_parallelism", None)
        executor.update_parameters(**params)
    return executor


def run_task(pytest_args: list[str], out: str, index: int, sharing: int = 1) -> int:
    """One array task: today's worker on the shared folder; its pytest exit status.

    Runs on the compute node (pickled by submitit); the worker is named after the task
    (``task<jobid>_<index>``) in claims and results. ``sharing``: how many tasks run on this
    machine at once (its CPU cores are split among them, as among local workers).
    """
    import submitit

    from bench.shard import Worker, get_pytest_command, get_worker_env

    name = f"task{submitit.JobEnvironment().job_id}"
    worker = Worker(name, os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    command = get_pytest_command(worker, index, pytest_args, Path(out))
    env = get_worker_env(worker, sharing)
    env.pop("PEFT_BENCH_LAUNCHER_PID", None)  # the task's own process is the launcher here
    print(f"[{name}] {' '.join(command[1:])}", flush=True)
    return subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False).returncode


def get_reason(job) -> str:
    """What the scheduler says about a task that did not finish cleanly."""
    try:
        state = job.state
    except Exception as e:  # noqa: BLE001 - a scheduler query can fail in many ways
        state = f"state unknown ({type(e).__name__})"
    try:
        exc = job.exception()
    except Exception as e:  # noqa: BLE001
        exc = e
    detail = str(exc).strip().splitlines()[-1][:200] if exc else ""
    return f"job {job.job_id}: {state}" + (f": {detail}" if detail else "")


def submit(args, pytest_args: list[str], out: Path, first: int) -> tuple[list[str], list[int], dict]:
    """Submit ``--tasks`` array tasks and wait for them; (worker names, exit statuses,
    reasons by worker name for tasks that ended without an exit status)."""
    executor = get_executor(args, out)
    indices = list(range(first, first + args.tasks))
    # submitit-local runs the tasks side by side on this machine: each gets its share of the cores
    # (else every task's torch starts one thread per core and they fight); a SLURM task has its node's
    sharing = min(args.tasks, args.max_concurrent or args.tasks) if args.executor == "submitit-local" else 1
    jobs = executor.map_array(run_task, [pytest_args] * args.tasks, [str(out)] * args.tasks, indices,
                              [sharing] * args.tasks)
    names = [f"task{job.job_id}" for job in jobs]
    print(f"[shard] submitted {len(jobs)} array task(s) {jobs[0].job_id.split('_')[0]}: "
          f"{', '.join(names)}; logs in {out / 'submitit'}", flush=True)
    record_submission(out, names)
    codes, reasons = [], {}
    for name, job in zip(names, jobs):
        try:
            codes.append(job.result())
        except Exception:  # noqa: BLE001 - killed, timed out, pre-empted, node failure
            reasons[name] = get_reason(job)
            print(f"[shard] {name} did not finish: {reasons[name]}", flush=True)
            codes.append(2)
    return names, codes, reasons


def record_submission(out: Path, workers: list[str]) -> None:
    """Append this launch's workers to ``OUT/submissions.jsonl`` (for --collect and shard numbering)."""
    with open(out / "submissions.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"workers": workers, "at": time.time()}) + "\n")


def read_submissions(out: Path) -> list[dict]:
    path = out / "submissions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def get_first_index(out: Path) -> int:
    """The first free shard number: earlier launches' shard JSONs are kept, never overwritten."""
    return sum(len(s["workers"]) for s in read_submissions(out))


def get_result_files(out: Path) -> list[Path]:
    """Shard JSONs, plus the journals of workers killed before they wrote one (their finished cases)."""
    shards = sorted(out.glob("shard-*.json"))
    kept = sorted(out.glob("autosave/**/journal_*.jsonl")) + sorted(out.glob("autosave/**/*_recovered_*.json"))
    return shards + kept


def describe(out: Path) -> tuple[str, int]:
    """What ``--collect`` says about ``out``: (text, number of cases not finished)."""
    claims_dir = out / "claims"
    done = {c["nodeid"] for c in read_claims(claims_dir)} - {c["nodeid"] for c in read_unfinished(claims_dir)}
    selected = read_selection(claims_dir)
    running = read_unfinished(claims_dir)
    interrupted = [r for r in read_interrupted(claims_dir) if r["nodeid"] not in done]
    never = sorted(set(selected) - done - {c["nodeid"] for c in running})
    finished_tasks = {p.name.split("_result")[0] for p in out.glob("submitit/*/*_result.pkl")}
    tasks = [w for s in read_submissions(out) for w in s["workers"]]
    open_tasks = [t for t in tasks if t.startswith("task") and t[4:] not in finished_tasks
                  and f"{t[4:]}_0" not in finished_tasks]
    lines = [f"[collect] {out}: {len(done)} of {len(selected) or '?'} selected cases finished"]
    lines += [f"[collect] task not finished (running, queued or killed): {t}" for t in open_tasks]
    lines += [f"[collect] claimed, not finished: {c['nodeid']} ({c['worker']})" for c in running]
    lines += [f"[collect] interrupted earlier: {r['nodeid']} ({r['worker']}: {r['reason']})" for r in interrupted]
    lines += [f"[collect] not run yet: {n}" for n in never]
    if running or never:
        lines.append(f"[collect] re-submit with the same --out {out} (once its tasks have ended) to run only these")
    return "\n".join(lines), len(running) + len(never)
