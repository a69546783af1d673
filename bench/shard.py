"""Usage: python -m bench.shard [--gpus auto | --gpus 0,1 | --gpus cpu:N] [--out DIR]
                             [--no-report] [--no-warm] [--warm-real] -- PYTEST_ARGS...

Run the benchmark matrix on several GPUs of one machine, one case per GPU at a time,
and merge the results into one report.

pytest-benchmark switches itself off under pytest-xdist, so this starts one plain
``python -m pytest bench PYTEST_ARGS`` process per GPU, each seeing only its GPU
(``CUDA_VISIBLE_DEVICES``) and writing its own ``--benchmark-json DIR/shard-<i>.json``.
The processes share a fresh ``--claim-dir``: each claims the next free case when it
is ready for one (``fixtures.run.claims``), so uneven case costs balance themselves.
Cases with ``gpus=N > 1`` (marker ``multigpu``) need several GPUs at once: the workers
leave them unclaimed, and once every worker is done one more pytest process (worker
``all``, every GPU of the run visible) runs them one at a time, each under torchrun. CPU
workers (``--gpus cpu:N``) run such cases themselves: their ranks are gloo processes.
Afterwards it prints who ran what, the wall time and cases per minute, and runs
``python -m reports DIR/shard-*.json -o DIR/report/index.html``.

    --gpus auto    every visible CUDA device (default): $CUDA_VISIBLE_DEVICES's entries,
                   else ``nvidia-smi -L``, else torch; an error when there is none
    --gpus 0,1     these devices (values for CUDA_VISIBLE_DEVICES); ``--gpus 0`` is the
                   one-GPU baseline through the same launcher
    --gpus cpu:N   N workers with no GPU (CPU machines, tests); GPU cases skip there
    --out DIR      where shard JSONs, claims and the report go
                   (default .benchmarks/shards/<date-time>; an earlier run's folder resumes it)

On a SLURM cluster (``--executor slurm``, ``--tasks N``), re-runs of an earlier ``--out``
and ``--collect DIR``: ``bench/executors.py``.

A first Ctrl-C, SIGTERM or SIGHUP reaches the running child (the cache warm-up or the
workers) and nothing more starts: no worker ``all``, no report; a second one kills them.
Children end with the launcher even when it is killed (``PR_SET_PDEATHSIG``).

Exit status: the workers' worst pytest status (1 failures, 2 interrupted, ...); a
worker left with nothing to run is fine. 5 only when no worker had any case; the
report's status when the workers passed but merging failed.
"""

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import executors
from fixtures.run.claims import DEFER_ENV, WORKER_ENV, read_claims, read_deferred, release_unfinished
from fixtures.run.launcher import LAUNCHER_ENV, set_parent_death_signal

ROOT = Path(__file__).resolve().parents[1]
NO_TESTS = 5  # pytest.ExitCode.NO_TESTS_COLLECTED
INTERRUPTED = 2  # pytest.ExitCode.INTERRUPTED
EXIT_MEANINGS = {0: "ok", 1: "failures", 2: "interrupted", 3: "internal error", 4: "usage error",
                 5: "no tests selected"}


@dataclass(frozen=True)
class Worker:
    """One pytest process of a sharded run.

    Args:
        name: ``gpu<i>`` or ``cpu<i>``; the output prefix and ``$PEFT_BENCH_WORKER``
            (recorded in every case's ``worker`` field).
        devices: its ``CUDA_VISIBLE_DEVICES`` ("" hides every GPU).
    """

    name: str
    devices: str


def get_visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES values."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    if shutil.which("nvidia-smi"):
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
        gpus = [line for line in listing.stdout.splitlines() if line.startswith("GPU ")]
        if listing.returncode == 0 and gpus:
            return [str(i) for i in range(len(gpus))]
    import torch  # slow to import; only when nvidia-smi cannot tell

    return [str(i) for i in range(torch.cuda.device_count())]


def get_workers(spec: str) -> list[Worker]:
    """Workers for ``--gpus``: "auto", "0,1" or "cpu:N"."""
    if spec.startswith("cpu:"):
        count = spec.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--gpus {spec}: expected cpu:N with N >= 1, e.g. cpu:2")
        return [Worker(f"cpu{i}", "") for i in range(int(count))]
    devices = get_visible_gpus() if spec == "auto" else [d.strip() for d in spec.split(",") if d.strip()]
    if not devices:
        raise ValueError(f"--gpus {spec}: no CUDA devices found; use --gpus cpu:N for N CPU workers")
    if len(set(devices)) != len(devices):
        raise ValueError(f"--gpus {spec}: a device is listed twice; one worker per GPU")
    return [Worker(f"gpu{d}" if d.isdigit() else f"gpu{i}", d) for i, d in enumerate(devices)]


def is_test_path(arg: str) -> bool:
    """Whether a pytest argument names tests (a ``.py`` file, maybe with ``::``, or a folder
    of tests) rather than being an option's value such as ``--data-dir ../shared/data``."""
    path = Path(arg.split("::")[0])
    if path.is_file():
        return path.suffix == ".py"
    return path.is_dir() and ((path / "conftest.py").exists() or any(path.glob("test_*.py")))


def get_pytest_command(worker: Worker, index: int, pytest_args: list[str], out: Path) -> list[str]:
    """The worker's pytest command line; ``bench`` is added unless the args name tests themselves."""
    names_tests = any(is_test_path(a) for a in pytest_args if not a.startswith("-"))
    return [
        sys.executable, "-m", "pytest", *([] if names_tests else ["bench"]), *pytest_args,
        # OPTION=VALUE: pytest's early parse would take a separate value for a path to
        # look for conftest.py files in
        f"--claim-dir={out / 'claims'}",
        f"--benchmark-json={out / f'shard-{index}.json'}",
        # autosave stays on (pytest.ini), but per worker: two processes picking the next
        # run number in one storage folder at once would collide
        f"--benchmark-storage={out / 'autosave' / worker.name}",
    ]


def get_child_env(**changes: str) -> dict:
    """The inherited environment (NCCL_* etc. kept) with this repository importable even
    where the interpreter leaves the working directory off sys.path (PYTHONSAFEPATH)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **changes)


def get_worker_env(worker: Worker, n_workers: int) -> dict:
    """A worker's environment: its GPU, its name and its share of the CPU cores."""
    env = get_child_env(CUDA_VISIBLE_DEVICES=worker.devices, PYTHONUNBUFFERED="1")
    env[WORKER_ENV] = worker.name
    env[LAUNCHER_ENV] = str(os.getpid())  # the worker ends when this process is gone (fixtures.run.launcher)
    # every torch process would otherwise start one thread per core and they would fight
    env.setdefault("OMP_NUM_THREADS", str(get_thread_share(n_workers)))
    return env


def get_thread_share(n_workers: int) -> int:
    """Threads per process when ``n_workers`` processes share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // n_workers)


def copy_prefixed(stream, prefix: str, lock: threading.Lock) -> None:
    """Echo a child's output line by line with its worker prefix (a thread per child)."""
    for line in iter(stream.readline, ""):
        with lock:
            sys.stdout.write(f"{prefix} {line if line.endswith(chr(10)) else line + chr(10)}")
            sys.stdout.flush()
    stream.close()


def forward_signals(procs: list[subprocess.Popen]) -> list[int]:
    """Ctrl-C/SIGTERM/SIGHUP reach every child in ``procs`` (a list the caller keeps adding
    to: the cache-warm child, then the workers) once, so each ends its run and saves its
    finished cases; a second one kills them. Children run in their own sessions, so a
    terminal's Ctrl-C (or hangup) is not delivered to them twice. Returns the signals
    received (a list that fills as they come): the launcher then starts nothing more."""
    received = []

    def handle(signum, frame):
        received.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum) if len(received) == 1 else proc.kill()
        what = "stopping (finished cases are saved)" if len(received) == 1 else "killing every child"
        print(f"[shard] signal {signum}: {what}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    if hasattr(signal, "SIGHUP"):  # a closed terminal or SSH session: stop as for SIGTERM
        signal.signal(signal.SIGHUP, handle)
    return received


def start_child(command: list[str], env: dict, children: list, **popen) -> subprocess.Popen:
    """Start a child in its own session that the kernel ends when this launcher dies (even by
    SIGKILL: ``PR_SET_PDEATHSIG``), listed in ``children`` for the signal handler."""
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=set_parent_death_signal, **popen)
    children.append(proc)
    return proc


def run_workers(workers: list[Worker], pytest_args: list[str], out: Path, *, first: int = 0,
                defer: bool = True, children: list | None = None) -> list[int]:
    """Start every worker, echo their output, wait for all; their exit statuses. ``first``:
    the index of the first one's shard JSON; ``defer``: leave multigpu cases unclaimed;
    ``children``: the list the signal handler forwards to (default: a new one, installed)."""
    if children is None:
        children = []
        forward_signals(children)
    lock = threading.Lock()
    procs, threads = [], []
    for index, worker in enumerate(workers, start=first):
        command = get_pytest_command(worker, index, pytest_args, out)
        print(f"[shard] {worker.name}: CUDA_VISIBLE_DEVICES={worker.devices!r} {shlex.join(command[1:])}", flush=True)
        env = get_worker_env(worker, len(workers))
        env.update({DEFER_ENV: "1"} if defer else {})
        proc = start_child(command, env, children, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace")
        procs.append(proc)
        threads.append(threading.Thread(target=copy_prefixed, args=(proc.stdout, f"[{worker.name}]", lock), daemon=True))
        threads[-1].start()
    codes = [proc.wait() for proc in procs]
    for thread in threads:
        thread.join(timeout=5)
    return codes


def get_exit_status(codes: list[int]) -> int:
    """The workers' worst status; "no tests" counts only when every worker says so."""
    bad = [128 - c if c < 0 else c for c in codes if c not in (0, NO_TESTS)]  # -N: killed by signal N
    if bad:
        return max(bad)
    return NO_TESTS if codes and all(c == NO_TESTS for c in codes) else 0


def make_summary(workers: list[Worker], codes: list[int], claims: list[dict], wall_s: float) -> str:
    """Cases per worker, exit statuses, total wall time and cases per minute."""
    lines = [f"[shard] {'worker':<8} {'devices':<10} {'cases':>5}  exit"]
    for worker, code in zip(workers, codes):
        ran = sum(c.get("worker") == worker.name for c in claims)
        lines.append(f"[shard] {worker.name:<8} {worker.devices or '-':<10} {ran:>5}  "
                     f"{code} ({EXIT_MEANINGS.get(code, f'killed by signal {-code}' if code < 0 else 'error')})")
    rate = len(claims) / (wall_s / 60) if wall_s > 0 else 0.0
    lines.append(f"[shard] {len(claims)} cases on {len(workers)} workers in {wall_s:.1f} s wall time: "
                 f"{rate:.2f} cases/minute")
    return "\n".join(lines)


def make_report(out: Path) -> int:
    """Merge the shard JSONs into one report; a worker that timed nothing wrote no JSON."""
    shards = executors.get_result_files(out)  # with killed workers' journals
    if not shards:
        print("[shard] no shard JSON written (nothing timed); no report", flush=True)
        return 0
    command = [sys.executable, "-m", "reports", *map(str, shards), "-o", str(out / "report" / "index.html")]
    print(f"[shard] {shlex.join(command[1:])}", flush=True)
    return subprocess.run(command, env=get_child_env(), check=False).returncode


def get_warm_command(*, real: bool) -> list[str]:
    return [sys.executable, "-m", "fixtures.run.warm", *(["--real"] if real else [])]


def warm_caches(*, real: bool, children: list) -> int:
    """Fill the model caches once, before the workers would all fill them at once."""
    return start_child(get_warm_command(real=real), get_child_env(CUDA_VISIBLE_DEVICES=""), children).wait()


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.shard", usage="%(prog)s [options] -- PYTEST_ARGS...",
                                description="Run the benchmark on several GPUs, one pytest process per GPU, "
                                            "and merge the results into one report.")
    p.add_argument("--gpus", default="auto", help="auto (every visible GPU), 0,1 (these), or cpu:N (N CPU workers)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder, new or empty (default .benchmarks/shards/<date-time>)")
    p.add_argument("--no-report", action="store_true", help="leave the shard JSONs unmerged")
    p.add_argument("--no-warm", action="store_true", help="skip filling the tiny models' cache first")
    p.add_argument("--warm-real", action="store_true", help="also de-quantize installed GGUF packs first")
    executors.add_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = get_parser()
    args = parser.parse_args(argv[:split])
    pytest_args = argv[split + 1:]
    if args.collect is not None:
        return collect(args.collect, report=not args.no_report)
    error = executors.check_options(args)
    try:
        workers = get_workers(args.gpus) if args.executor == "local" else []
    except ValueError as e:
        error = str(e)
    if error:
        parser.error(error)
    out = args.out or Path(".benchmarks", "shards", time.strftime("%Y%m%d-%H%M%S"))
    if out.exists() and any(out.iterdir()) and not (out / "claims").is_dir():
        parser.error(f"--out {out}: holds files but no claims/; give a new or empty folder, or an earlier run's")
    resume(out)
    children: list[subprocess.Popen] = []
    received = forward_signals(children)  # from here on a signal stops everything, children included
    if not args.no_warm and warm_caches(real=args.warm_real, children=children) != 0:
        if received:
            print(f"[shard] stopped by signal {received[0]} while warming the caches; no worker started",
                  file=sys.stderr, flush=True)
            return INTERRUPTED
        print("[shard] warming the caches failed; see above", file=sys.stderr)
        return 3
    start = time.perf_counter()
    first = executors.get_first_index(out)
    if args.executor != "local":
        names, codes, reasons = executors.submit(args, pytest_args, out, first)
        workers = [Worker(name, "slurm") for name in names]
        for record in release_unfinished(out / "claims", reasons):
            print(f"[shard] interrupted: {record['nodeid']} ({record['worker']}: {record['reason']})", flush=True)
    else:
        executors.record_submission(out, [w.name for w in workers])
        # GPU workers leave multi-GPU cases to worker "all"; on CPU workers a case's ranks are
        # processes (gloo), so the workers take those cases like any other, side by side
        defer = any(w.devices for w in workers)
        codes = run_workers(workers, pytest_args, out, first=first, defer=defer, children=children) if not received else []
    deferred = read_deferred(out / "claims") if args.executor == "local" else set()
    if received:  # a stop request: nothing more starts (no worker "all", no report)
        left = f"; {len(deferred)} multi-GPU case(s) not run" if deferred else ""
        print(f"[shard] stopped by signal {received[0]}{left}; the finished cases are in {out}; "
              f"merge them with: python -m reports {out}/shard-*.json", file=sys.stderr, flush=True)
        return get_exit_status(codes) or INTERRUPTED
    if deferred:
        # cases with gpus=N > 1 need several GPUs at once: the workers left them; one more
        # pytest process runs them now, one at a time, seeing every GPU of the run
        every = Worker("all", ",".join(w.devices for w in workers if w.devices))
        print(f"[shard] {len(deferred)} multi-GPU case(s) left by the workers: running them on "
              f"{every.devices or 'the CPU'}, one at a time", flush=True)
        codes += run_workers([every], pytest_args, out, first=first + len(workers), defer=False, children=children)
        workers = [*workers, every]
    wall_s = time.perf_counter() - start
    print(make_summary(workers, codes, read_claims(out / "claims"), wall_s), flush=True)
    status = get_exit_status(codes)
    report = 0 if args.no_report else make_report(out)
    return status or report


def resume(out: Path) -> None:
    """Prepare ``out`` for a run: a fresh claim folder, or an earlier run's whose unfinished
    claims (workers killed mid-case) are recorded as interrupted and released to this run."""
    if not (out / "claims").is_dir():
        (out / "claims").mkdir(parents=True)
        return
    released = release_unfinished(out / "claims")
    done = len(read_claims(out / "claims"))
    print(f"[shard] --out {out} holds an earlier run: {done} finished case(s) kept and not run again; "
          f"{len(released)} interrupted case(s) released to run again", flush=True)


def collect(out: Path, *, report: bool) -> int:
    """``--collect DIR``: merge what is there and list what has not finished (1 if anything)."""
    if not (out / "claims").is_dir():
        print(f"[collect] {out}: no claims/ folder; not a python -m bench.shard output", file=sys.stderr)
        return 4
    text, open_cases = executors.describe(out)
    print(text, flush=True)
    status = make_report(out) if report else 0
    return status or (1 if open_cases else 0)


if __name__ == "__main__":
    sys.exit(main())
