"""Run mutants through the ``infercc`` CLI, each in a forked child under a time and memory
cap, and classify how each run ended.

One worker process per format (``python3 -m tests.fuzz.driver FORMAT ...``) imports infercc
and the format's framework once, then for each mutant writes it into an empty folder and
forks a child that runs ``infercc inspect MODEL`` in-process (the CLI's ``main``, as the
``infercc`` command does) with stdout discarded and stderr kept in a file; when the model
inspects cleanly a second child runs ``infercc compile MODEL -o OUT``, to a ``.tflite`` or
an ``.onnx`` file in turn, among the outputs its unmutated seed compiles to. A mutant refused
by ``inspect`` is not compiled: both commands load it the same way. The worker prints one
JSON line per mutant.

Before the first fork the worker runs each seed through ``inspect`` and both compiles in its
own process: that finds the outputs each seed compiles to, and leaves every module the
commands import loaded and every registry filled, so a child starts at the work itself.

The child's limits: ``RLIMIT_AS`` at its address space on entry plus ``mem_mb`` (so an
allocation the file does not justify fails fast instead of taking the machine), a wall-clock
``alarm`` and ``RLIMIT_CPU`` of ``timeout`` seconds; the parent kills a child that outlives
the alarm by 10 s. Outcomes (:data:`OUTCOMES`), the first that applies:

========== =============================================================================
hang       killed by the alarm, the CPU limit or the parent's watchdog
memory     ``MemoryError``, numpy's "Unable to allocate", ``std::bad_alloc`` in stderr
crash      killed by another signal (segfault, abort), or an exit code infercc never uses
traceback  a Python traceback in stderr, exit 1 (infercc's "internal error"), or an
           exception that escaped the CLI's ``main``
partial    a non-zero exit that left the output file (or any other new file) behind
unclear    exit 2 with a message that is empty, does not name the file, or runs past
           :data:`MAX_MESSAGE_LINES` lines
clean      exit 2 with a short message naming the file
ok         exit 0 (for ``inspect`` and, when it ran, ``compile``)
========== =============================================================================
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

OUTCOMES = ("ok", "clean", "unclear", "traceback", "crash", "hang", "memory", "partial")
#: outcomes that fail the fuzz suite
FAILURES = ("traceback", "crash", "hang", "memory", "partial")
#: an error is one paragraph; a verification failure adds its first node, one IR line either
#: side and a count of the rest (the ONNX loader's mutant test allows the same)
MAX_MESSAGE_LINES = 7
#: exit codes of the infercc CLI: ok, internal error, user error, interrupted
CLI_EXIT_CODES = (0, 1, 2, 130)
#: exit code of a child whose entry let an exception escape (main() never does)
ESCAPED = 97
DEFAULT_TIMEOUT = 60
DEFAULT_MEM_MB = 3072
_TIMEOUT_SIGNALS = (signal.SIGALRM, signal.SIGXCPU)
_MEMORY_MARKS = ("MemoryError", "Unable to allocate", "std::bad_alloc", "Cannot allocate memory")

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
#: mutants larger than this are kept in regressions/ as their recipe (format, index) only
MAX_SAVED_BYTES = 2 * 2**20
#: reproducers kept per failure signature and format
KEEP_PER_SIGNATURE = 3


@dataclass
class Run:
    """How one command ended: exit code or signal, stderr, files left in the folder."""

    rc: int | None
    signal: int | None
    timed_out: bool
    stderr: str
    new_files: list[str]
    seconds: float


@dataclass
class Result:
    """The outcome of one mutant (one JSON line of the worker's output)."""

    format: str
    index: int
    seed: str
    what: str
    outcome: str
    command: str
    rc: int | None
    detail: str
    sha: str
    seconds: float
    signature: str = ""


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_forked(entry: Callable[[list[str]], int], argv: list[str], folder: Path, *,
               timeout: int = DEFAULT_TIMEOUT, mem_mb: int = DEFAULT_MEM_MB) -> Run:
    """Run ``entry(argv)`` in a forked child with ``folder`` as its working directory and
    temp directory, under the limits above; the child's exit code is ``entry``'s return."""
    before = set(os.listdir(folder))
    err_path = folder.parent / (folder.name + ".stderr")
    scratch = folder.parent / (folder.name + ".tmp")
    scratch.mkdir(exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        rc = ESCAPED
        try:
            import faulthandler

            faulthandler.disable()  # an embedding pytest's handler would write to its own fd
            os.chdir(folder)
            err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err, 2)
            # the streams of an embedding process (pytest's capture) may not be fds 1 and 2
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.environ["TMPDIR"] = str(scratch)
            tempfile.tempdir = str(scratch)
            limit = _vm_bytes() + mem_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CPU, (timeout, timeout + 5))
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(timeout)
            rc = _call(entry, argv)
        finally:  # a failure of the set-up above leaves rc at ESCAPED
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(rc if isinstance(rc, int) and 0 <= rc < 256 else ESCAPED)
    deadline = t0 + timeout + 10
    nap, killed = 0.001, False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed, status = True, -1
            break
        time.sleep(nap)
        nap = min(nap * 2, 0.02)
    seconds = time.monotonic() - t0
    stderr = err_path.read_text(errors="replace") if err_path.exists() else ""
    err_path.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    new = sorted(set(os.listdir(folder)) - before)
    if killed:
        return Run(None, signal.SIGKILL, True, stderr, new, seconds)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return Run(None, sig, sig in _TIMEOUT_SIGNALS, stderr, new, seconds)
    return Run(os.WEXITSTATUS(status), None, False, stderr, new, seconds)


def _call(entry: Callable[[list[str]], int], argv: list[str]) -> int:
    """``entry(argv)``'s exit code; SystemExit gives its code, any other exception is printed
    as a traceback on stderr (the outcome the classifier calls "traceback") and gives
    :data:`ESCAPED`."""
    try:
        return entry(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else ESCAPED
    except BaseException:  # noqa: BLE001 - reported as a traceback on stderr
        import traceback

        traceback.print_exc()
        return ESCAPED


def run_inline(entry: Callable[[list[str]], int], argv: list[str], folder: Path, *,
                timeout: int = DEFAULT_TIMEOUT, mem_mb: int = DEFAULT_MEM_MB) -> Run:
    """Run ``entry(argv)`` in this process, for frameworks that do not survive a fork
    (TensorFlow's thread pools deadlock a forked child). stdin, stdout and stderr are
    redirected for the call; the limits are the same, except that the CPU limit is left out
    (it would count the whole worker) and a hang, a crash or a fatal signal ends the worker:
    :func:`spawn` then records the mutant the worker announced and starts a new worker
    after it."""
    before = set(os.listdir(folder))
    err_path = folder.parent / (folder.name + ".stderr")
    scratch = folder.parent / (folder.name + ".tmp")
    scratch.mkdir(exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    streams = sys.stdout, sys.stderr
    old_cwd, old_tmp = os.getcwd(), tempfile.tempdir
    t0 = time.monotonic()
    rc: int = ESCAPED
    try:
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        os.close(err)
        os.close(null)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.chdir(folder)
        tempfile.tempdir = str(scratch)
        limit = _vm_bytes() + mem_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(timeout)
        rc = _call(entry, argv)
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        for fd, copy in zip((0, 1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.chdir(old_cwd)
        tempfile.tempdir = old_tmp
    seconds = time.monotonic() - t0
    stderr = err_path.read_text(errors="replace")
    err_path.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    new = sorted(set(os.listdir(folder)) - before)
    return Run(rc, None, False, stderr, new, seconds)


def classify(run: Run, names: Sequence[str], output: str | None = None) -> str:
    """The outcome of ``run`` (see the module doc). ``names`` are paths any of which an
    error message may name (the mutant and the model given on the command line); ``output``
    is the file a compile was asked to write."""
    if run.timed_out:
        return "hang"
    err = run.stderr
    if any(m in err for m in _MEMORY_MARKS):
        return "memory"
    if run.signal is not None:
        return "crash"
    if "Traceback (most recent call last)" in err or run.rc in (1, ESCAPED):
        return "traceback"
    if run.rc not in CLI_EXIT_CODES:
        return "crash"
    if run.rc != 0 and (run.new_files or (output and os.path.exists(output))):
        return "partial"
    if run.rc == 0:
        return "ok"
    message = err[err.find("infercc: error:"):] if "infercc: error:" in err else ""
    body = message.removeprefix("infercc: error:").strip()
    if (not body or not any(n in message for n in names)
            or len(message.strip().splitlines()) > MAX_MESSAGE_LINES):
        return "unclear"
    return "clean"


def _cli_main(argv: list[str]) -> int:
    from compiler.cli.app import main

    return main(argv)


def _first_lines(text: str, n: int = 4) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    keep = [l for l in lines if "infercc: error" in l or "Error" in l or "Traceback" in l]
    return "\n".join((keep or lines)[-n:])[:600]


def run_mutant(seed, data: bytes, folder: Path, index: int, *, timeout: int, mem_mb: int,
               entry: Callable[[list[str]], int] = _cli_main,
               runner: Callable[..., Run] = run_forked) -> tuple[str, str, Run]:
    """Lay the mutant out in the empty ``folder`` (see :class:`tests.fuzz.formats.Seed`), run
    ``inspect`` and, when it succeeds, ``compile``; returns (outcome, command, run) of the
    last command run."""
    (folder / seed.mutant_name).write_bytes(data)
    for name, body in seed.beside.items():
        (folder / name).write_bytes(body)
    model = str(folder / seed.model_name)
    args = [a.replace("{dir}", str(folder)) for a in seed.args]
    names = [str(folder / seed.mutant_name), model]
    run = runner(entry, ["inspect", model, *args], folder, timeout=timeout, mem_mb=mem_mb)
    outcome = classify(run, names)
    if outcome != "ok":
        return outcome, "inspect", run
    if not seed.outputs:
        return outcome, "inspect", run
    out = str(folder / ("out" + seed.outputs[index % len(seed.outputs)]))
    run = runner(entry, ["compile", model, *args, "-o", out], folder, timeout=timeout,
                 mem_mb=mem_mb)
    return classify(run, names, out), "compile", run


def regression_dir(fmt_name: str) -> Path:
    return REGRESSIONS / fmt_name


def signature(outcome: str, stderr: str) -> str:
    """What a failure looks like without its paths and numbers: the outcome and the last
    error line, so that reproducers of one bug can be told apart from those of another."""
    lines = [l for l in stderr.splitlines() if l.strip()]
    errors = [l for l in lines if "infercc: error" in l or "Error" in l]
    last = (errors or lines or [""])[-1]
    last = re.sub(r"(/[^\s:'\"]+)+", "<path>", last)
    return f"{outcome}: " + re.sub(r"\d+", "N", last)[:120]


def save_failure(fmt_name: str, seed, data: bytes, result: Result) -> Path | None:
    """Keep a failing mutant in ``regressions/<format>/<sha>.<ext>`` with a ``.json`` note
    (seed, recipe, what happened, :func:`signature`), unless :data:`KEEP_PER_SIGNATURE`
    reproducers of the same signature are kept already (one bug makes hundreds of them); a
    mutant over :data:`MAX_SAVED_BYTES` keeps its note only, and is rebuilt from its recipe
    (format, index) when replayed. Returns the note's path, or None when not kept."""
    folder = regression_dir(fmt_name)
    folder.mkdir(parents=True, exist_ok=True)
    sig = result.signature
    if sum(n.get("signature") == sig for n in regressions(fmt_name)) >= KEEP_PER_SIGNATURE:
        return None
    note = {"format": fmt_name, "index": result.index, "seed": seed.name, "what": result.what,
            "outcome": result.outcome, "command": result.command, "signature": sig,
            "detail": result.detail}
    ext = Path(seed.mutant_name).suffix
    if len(data) <= MAX_SAVED_BYTES:
        (folder / f"{result.sha}{ext}").write_bytes(data)
    (folder / f"{result.sha}.json").write_text(json.dumps(note, indent=1) + "\n")
    return folder / f"{result.sha}.json"


def regressions(fmt_name: str) -> list[dict]:
    """The notes of the kept reproducers of a format, each with ``path`` (the mutant's file,
    or None when only the recipe was kept)."""
    out = []
    for note_path in sorted(regression_dir(fmt_name).glob("*.json")):
        note = json.loads(note_path.read_text())
        files = [p for p in note_path.parent.glob(note_path.stem + ".*") if p.suffix != ".json"]
        note["path"] = str(files[0]) if files else None
        note["sha"] = note_path.stem
        out.append(note)
    return out


def _baseline(seed, folder: Path) -> list[str]:
    """Run the unmutated seed in this process; the output extensions it compiles to."""
    import contextlib
    import io

    folder.mkdir(exist_ok=True)
    (folder / seed.mutant_name).write_bytes(seed.data)
    for name, body in seed.beside.items():
        (folder / name).write_bytes(body)
    model = str(folder / seed.model_name)
    args = [a.replace("{dir}", str(folder)) for a in seed.args]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        _cli_main(["inspect", model, *args])
        outputs = [ext for ext in (".tflite", ".onnx")
                   if _cli_main(["compile", model, *args, "-o", str(folder / ("out" + ext))]) == 0]
    shutil.rmtree(folder, ignore_errors=True)
    return outputs


def _jobs(fmt, seeds: list, start: int, count: int, replay: bool,
          indices: Sequence[int] = ()):
    """(index, seed, bytes, what) of each mutant to run, made one at a time: ``indices`` if
    given, else ``start .. start+count-1``, or with ``replay`` the kept reproducers."""
    from tests.fuzz.formats import mutant

    if not replay:
        for k in indices or range(start, start + count):
            yield (k, *mutant(fmt, seeds, k))
        return
    by_name = {s.name: s for s in seeds}
    for note in regressions(fmt.name):
        seed = by_name.get(note["seed"])
        if seed is None:
            raise SystemExit(f"regression {note['sha']}: seed {note['seed']} is missing")
        if note["path"]:
            yield note["index"], seed, Path(note["path"]).read_bytes(), note["what"]
        else:
            yield (note["index"], *mutant(fmt, seeds, note["index"]))


def work(fmt_name: str, start: int, count: int, *, replay: bool = False, save: bool = False,
         skip: int = 0, indices: Sequence[int] = (), timeout: int = DEFAULT_TIMEOUT,
         mem_mb: int = DEFAULT_MEM_MB, out=sys.stdout) -> None:
    """The worker: mutants ``start .. start+count-1`` of ``fmt_name`` (or with ``replay`` its
    kept reproducers), less the first ``skip``; one JSON :class:`Result` per line on ``out``,
    each preceded by a ``{"start": ...}`` line naming the mutant about to run and where its
    file is (for :func:`spawn`, should the run end the worker)."""
    from tests.fuzz.formats import FORMATS

    fmt = FORMATS[fmt_name]
    runner = run_inline if fmt.inline else run_forked
    root = Path(tempfile.mkdtemp(prefix=f"infercc-fuzz-{fmt_name}-"))
    try:
        (root / "seeds").mkdir()
        seeds = fmt.seeds(root / "seeds")
        for seed in seeds:
            seed.outputs = _baseline(seed, root / "baseline")
        for pos, (k, seed, data, what) in enumerate(_jobs(fmt, seeds, start, count, replay, indices)):
            if pos < skip:
                continue
            folder = root / f"m{k}"
            folder.mkdir()
            sha = hashlib.sha256(data).hexdigest()[:16]
            out.write(json.dumps({"start": k, "pos": pos, "seed": seed.name, "what": what,
                                  "sha": sha, "file": str(folder / seed.mutant_name),
                                  "root": str(root)}) + "\n")
            out.flush()
            outcome, command, run = run_mutant(seed, data, folder, k, timeout=timeout,
                                               mem_mb=mem_mb, runner=runner)
            res = Result(fmt_name, k, seed.name, what, outcome, command, run.rc,
                         "" if outcome == "ok" else _first_lines(run.stderr), sha,
                         round(run.seconds, 3), signature(outcome, run.stderr))
            if save and not replay and outcome in FAILURES:
                save_failure(fmt_name, seed, data, res)
            out.write(json.dumps(asdict(res)) + "\n")
            out.flush()
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _warm_up(fmt_name: str) -> None:
    """Import what the format's loader imports, once, before the children fork."""
    import compiler.cli.app  # noqa: F401 - imported for its side effect of loading
    from compiler.frontends import caffe, onnx, tflite  # noqa: F401

    if fmt_name == "keras":
        import keras  # noqa: F401
    elif fmt_name == "pt2":
        import torch  # noqa: F401
        import torch.export  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fuzz worker for one format (JSON lines out)")
    p.add_argument("format")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--skip", type=int, default=0, help="leave out the first SKIP mutants")
    p.add_argument("--indices", default="", help="comma-separated mutant indices to run")
    p.add_argument("--replay", action="store_true", help="run the kept reproducers instead")
    p.add_argument("--save-failures", action="store_true")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT)
    p.add_argument("--mem-mb", type=int, default=DEFAULT_MEM_MB)
    a = p.parse_args(argv)
    _warm_up(a.format)
    work(a.format, a.start, a.count, replay=a.replay, save=a.save_failures, skip=a.skip,
         indices=[int(i) for i in a.indices.split(",") if i], timeout=a.timeout,
         mem_mb=a.mem_mb)
    return 0


def _death(start: dict, fmt_name: str, rc: int, stderr: str) -> dict:
    """The result of the mutant a worker announced and did not finish: the worker died."""
    if rc < 0:
        sig = -rc
        outcome = ("hang" if sig in (signal.SIGALRM, signal.SIGXCPU) else
                   "memory" if sig == signal.SIGKILL else "crash")
        how = f"worker killed by {signal.Signals(sig).name}"
    else:
        outcome, how = "crash", f"worker exited {rc}"
    if any(m in stderr for m in _MEMORY_MARKS):
        outcome = "memory"
    return asdict(Result(fmt_name, start["start"], start["seed"], start["what"], outcome,
                         "inspect or compile", None, f"{how}\n{_first_lines(stderr)}",
                         start["sha"], 0.0, signature(outcome, f"{stderr}\n{how}")))


def spawn(fmt_name: str, count: int, *, start: int = 0, replay: bool = False,
          indices: Sequence[int] = (), save: bool = False, timeout: int = DEFAULT_TIMEOUT,
          mem_mb: int = DEFAULT_MEM_MB,
          on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run workers for ``fmt_name``, each in a fresh ``python3`` (niced, with infercc's
    repository on ``PYTHONPATH``), and return the results as dicts. A worker that dies
    during a mutant (possible for a format run inline) is replaced by one that starts after
    it; the mutant is recorded as a hang, crash or memory failure, and with ``save`` kept."""
    import subprocess
    from types import SimpleNamespace

    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MALLOC_ARENA_MAX", "2")  # fewer 64 MiB arenas under the child's RLIMIT_AS
    env.setdefault("OMP_NUM_THREADS", "1")  # no OpenMP pool for a forked child to inherit
    results: list[dict] = []
    skip = 0
    while True:
        cmd = [sys.executable, "-m", "tests.fuzz.driver", fmt_name, "--start", str(start),
               "--count", str(count), "--skip", str(skip), "--timeout", str(timeout),
               "--mem-mb", str(mem_mb), "--indices", ",".join(map(str, indices))]
        cmd += ["--replay"] * replay + ["--save-failures"] * save
        if shutil.which("nice"):
            cmd = ["nice", "-n", "10", *cmd]
        started: dict | None = None
        with tempfile.TemporaryFile("w+") as err_file:
            with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, text=True,
                                  cwd=repo, env=env) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if not line.startswith("{"):
                        continue
                    r = json.loads(line)
                    if "start" in r:
                        started = r
                        continue
                    started = None
                    results.append(r)
                    if on_result:
                        on_result(r)
                rc = proc.wait()
            err_file.seek(0)
            err = err_file.read()
        if rc == 0:
            return results
        if started is None:
            raise RuntimeError(f"fuzz worker for {fmt_name} exited {rc}:\n{err[-3000:]}")
        r = _death(started, fmt_name, rc, err)
        path = Path(started["file"])
        if save and not replay and path.exists():
            seed = SimpleNamespace(name=started["seed"], mutant_name=path.name)
            save_failure(fmt_name, seed, path.read_bytes(), Result(**r))
        shutil.rmtree(started["root"], ignore_errors=True)
        results.append(r)
        if on_result:
            on_result(r)
        skip = started["pos"] + 1


if __name__ == "__main__":
    sys.exit(main())
