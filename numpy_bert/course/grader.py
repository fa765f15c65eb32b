"""Grade a student directory: every exercise of the manifest, each in its own child process.

For each exercise of ``manifest.json`` (``{id, assignment, file, function, points,
reference, check}``) the grader

1. forks a child process (a hang or a crash costs only that exercise: the child is killed
   after ``timeout`` seconds, and a child that dies is reported as such);
2. in the child, imports the student's file fresh (its directory first on ``sys.path``, so
   it may import its own helpers), with stdout and stderr sent to /dev/null;
3. calls the hidden check ``numpy_bert.course.checks.aN:check_<function>(fn, rng)`` with the
   student's function wrapped in a *tripwire*: while the student's code runs, a profile hook
   (``sys.setprofile``) records every Python function called whose code lives in
   ``numpy_bert/`` (the hidden checks included), except ``numpy_bert/special.py`` (the erf the
   exercises may use). A function that calls numpy_bert's own implementation earns 0 points,
   and the message names what it called. During the check the module's other exercise
   functions are replaced by right ones (``RIGHT_HELPERS`` of the check's module, which run
   with the tripwire off), so that a function calling the student's helpers (the encoder
   layer calls layer_norm_forward) is graded on its own steps only;
4. turns an exception of the student's code into 0 points and a message naming it
   (``NotImplementedError`` from a stub: "not written yet").

The child sends its result back as one line of JSON through a pipe. Results are points =
fraction * the exercise's points, rounded to 0.01. Written questions are listed with their
points and graded by hand.

    report = grade_directory("handout")                 # or: numpy-bert course grade handout --json
    print(format_report(report))
"""

import faulthandler
import importlib
import importlib.util
import json
import os
import select
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from numpy_bert.course.checks.common import RIGHT_HELPER_CODE

__all__ = ["load_manifest", "grade_directory", "grade_exercise", "format_report", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 10.0  # seconds per exercise; a correct answer takes well under one
PACKAGE_DIR = Path(__file__).resolve().parent.parent       # numpy_bert/
# numpy_bert code an answer may run: erf (numpy has none)
_ALLOWED = (str(PACKAGE_DIR / "special.py"),)
_PACKAGE_PREFIX = str(PACKAGE_DIR) + os.sep

_REQUIRED_KEYS = ("id", "assignment", "file", "function", "points", "check")


def load_manifest(path):
    """Read and check a course manifest; returns its dict. Raises OSError / ValueError."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OSError(f"no manifest at {path}; pass the course's manifest.json") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    exercises = manifest.get("exercises")
    if not isinstance(exercises, list):
        raise ValueError(f"{path}: 'exercises' must be a list of exercises")
    seen = set()
    for i, exercise in enumerate(exercises):
        missing = [k for k in _REQUIRED_KEYS if k not in exercise]
        if missing:
            raise ValueError(f"{path}: exercise {i} ({exercise.get('id', '?')}) lacks {', '.join(missing)}")
        if exercise["id"] in seen:
            raise ValueError(f"{path}: exercise id {exercise['id']!r} appears twice")
        seen.add(exercise["id"])
        if ":" not in exercise["check"]:
            raise ValueError(f"{path}: exercise {exercise['id']}: check must be 'module:function', "
                             f"got {exercise['check']!r}")
    manifest.setdefault("questions", [])
    return manifest


# ----------------------------------------------------------------------------- the tripwire

def _is_forbidden(filename):
    return filename.startswith(_PACKAGE_PREFIX) and not filename.startswith(_ALLOWED)


def _qualified_name(code):
    relative = Path(code.co_filename).relative_to(PACKAGE_DIR.parent).with_suffix("")
    return ".".join(relative.parts) + "." + getattr(code, "co_qualname", code.co_name)


class Tripwire:
    """Wraps a student's function; ``calls`` collects numpy_bert functions it ran."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = []
        self.__name__ = getattr(fn, "__name__", "function")
        self.__doc__ = getattr(fn, "__doc__", None)

    def _hook(self, frame, event, arg):
        if event == "call" and frame.f_code is not RIGHT_HELPER_CODE and _is_forbidden(frame.f_code.co_filename):
            name = _qualified_name(frame.f_code)
            if name not in self.calls:
                self.calls.append(name)

    def __call__(self, *args, **kwargs):
        previous = sys.getprofile()
        sys.setprofile(self._hook)
        try:
            return self.fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)


# ----------------------------------------------------------------------------- one exercise, in the child

def _import_student_file(path):
    """Import the student's file as a fresh module named after it (never a cached one)."""
    path = Path(path)
    name = path.stem
    sys.modules.pop(name, None)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _where(exc, path):
    """' (file.py, line N)': the innermost frame of the traceback in the student's file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == Path(path)]
    return f" ({Path(path).name}, line {frames[-1].lineno})" if frames else ""


def _run_exercise(directory, exercise, seed):
    """Grade one exercise in this process: ``{"fraction", "message"}``."""
    path = Path(directory) / exercise["file"]
    if not path.is_file():
        return {"fraction": 0.0, "message": f"{exercise['file']} is missing from the submission"}
    try:
        module = _import_student_file(path)
    except BaseException as exc:  # noqa: BLE001 - anything the student's file does
        return {"fraction": 0.0, "message": f"could not import {exercise['file']}: "
                f"{type(exc).__name__}: {exc}{_where(exc, path)}"}
    fn = getattr(module, exercise["function"], None)
    if not callable(fn):
        return {"fraction": 0.0, "message": f"{exercise['file']} has no function {exercise['function']}"}
    module_name, check_name = exercise["check"].split(":")
    check_module = importlib.import_module(module_name)
    check = getattr(check_module, check_name)
    tripwire = Tripwire(fn)
    rng = np.random.default_rng(seed)
    from numpy_bert.course.checks.common import CheckFailure, helpers_replaced

    try:
        # the other exercises' functions, right, in place of the student's (RIGHT_HELPERS of
        # the check's module): a composite exercise is graded on its own steps
        with helpers_replaced(tripwire, getattr(check_module, "RIGHT_HELPERS", {}), own=exercise["function"]):
            fraction, message = check(tripwire, rng)
    except CheckFailure as exc:
        fraction, message = 0.0, str(exc)
    except NotImplementedError as exc:
        fraction, message = 0.0, f"not written yet (NotImplementedError: {exc})"
    except BaseException as exc:  # noqa: BLE001 - whatever the student's function raises
        fraction, message = 0.0, f"raised {type(exc).__name__}: {exc}{_where(exc, path)}"
    if tripwire.calls:
        shown = ", ".join(tripwire.calls[:3]) + (" ..." if len(tripwire.calls) > 3 else "")
        return {"fraction": 0.0, "message": f"0 points: calls numpy_bert's own implementation ({shown}); "
                f"write it yourself with numpy (and your own functions)"}
    return {"fraction": float(min(1.0, max(0.0, fraction))), "message": str(message)}


def _child(directory, exercise, seed, write_fd):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    faulthandler.disable()  # a crash of the student's code is reported in the report, not dumped
    # the student's warnings (an overflow, a NaN) are not errors here, whatever filters the
    # parent had (pytest turns numpy_bert's RuntimeWarnings into errors)
    warnings.resetwarnings()
    warnings.simplefilter("ignore")
    try:
        result = _run_exercise(directory, exercise, seed)
    except BaseException as exc:  # noqa: BLE001 - a bug in a check: report it, don't hang
        result = {"fraction": 0.0, "message": f"grader error: {type(exc).__name__}: {exc}"}
    data = (json.dumps(result) + "\n").encode("utf-8")
    while data:
        data = data[os.write(write_fd, data):]
    os.close(write_fd)


class _Child:
    """One exercise graded in a forked child process, which writes its result to a pipe."""

    def __init__(self, directory, exercise, seed, timeout):
        self.start = time.perf_counter()
        self.deadline = self.start + timeout
        self.timeout = timeout
        self.chunks = []
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            code = 0
            try:
                _child(directory, exercise, seed, write_fd)
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        os.close(write_fd)
        self.pid, self.fd = pid, read_fd

    def read(self):
        """Read what is there; True when the child has closed its end (it is done)."""
        chunk = os.read(self.fd, 65536)
        self.chunks.append(chunk)
        return not chunk

    def finish(self, timed_out=False):
        """Reap the child (killing it if it timed out): ``{"fraction", "message", "seconds"}``."""
        os.close(self.fd)
        if timed_out:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        seconds = time.perf_counter() - self.start
        if timed_out:
            return {"fraction": 0.0, "seconds": seconds,
                    "message": f"timed out after {self.timeout:g} s (an endless loop? the check runs small inputs)"}
        try:
            result = json.loads(b"".join(self.chunks).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit status {os.WEXITSTATUS(status)}")
            return {"fraction": 0.0, "seconds": seconds, "message": f"crashed the grading process ({how})"}
        return dict(result, seconds=seconds)


def _grade_in_children(directory, jobs, timeout, jobs_at_once):
    """Grade ``jobs`` (a list of (exercise, seed)) in child processes, ``jobs_at_once`` at a
    time; returns their results in order."""
    results = [None] * len(jobs)
    waiting = list(enumerate(jobs))
    running = {}  # fd -> (index, child)
    try:
        _run_all(directory, waiting, running, results, timeout, jobs_at_once)
    finally:  # interrupted (Ctrl-C): no child is left running, a hanging one least of all
        for _, child in running.values():
            child.finish(timed_out=True)
    return results


def _run_all(directory, waiting, running, results, timeout, jobs_at_once):
    """The loop of _grade_in_children: start children while there is room, read the pipes that
    have data, reap the children that are done or past their deadline."""
    while waiting or running:
        while waiting and len(running) < jobs_at_once:
            index, (exercise, seed) = waiting.pop(0)
            child = _Child(directory, exercise, seed, timeout)
            running[child.fd] = (index, child)
        now = time.perf_counter()
        for fd, (index, child) in list(running.items()):
            if child.deadline <= now:
                del running[fd]
                results[index] = child.finish(timed_out=True)
        if not running:
            continue
        wait = max(0.0, min(child.deadline for _, child in running.values()) - time.perf_counter())
        ready, _, _ = select.select(list(running), [], [], wait)
        for fd in ready:
            index, child = running[fd]
            if child.read():
                del running[fd]
                results[index] = child.finish()


def grade_exercise(directory, exercise, seed, timeout=DEFAULT_TIMEOUT):
    """Grade one exercise in a child process (fork): ``{"fraction", "message", "seconds"}``.
    A child that runs past ``timeout`` seconds is killed; one that dies is reported."""
    if not hasattr(os, "fork"):  # no fork (Windows): grade in this process, without isolation
        start = time.perf_counter()
        result = _run_exercise(directory, exercise, seed)
        return dict(result, seconds=time.perf_counter() - start)
    return _grade_in_children(directory, [(exercise, seed)], timeout, 1)[0]


# ----------------------------------------------------------------------------- a whole directory

def grade_directory(directory, manifest=None, seed=None, timeout=DEFAULT_TIMEOUT, only=None, jobs=2):
    """Grade every exercise of ``manifest`` (a path, a dict, or None: the directory's own
    ``manifest.json`` if the course's solution version is not found) in ``directory``.

    ``seed`` seeds the checks' random sizes and inputs (None: a fresh one, reported);
    ``only``: grade only the exercises whose id starts with one of these strings; ``jobs``:
    how many exercises are graded at once (each in its own child process).
    Returns ``{"exercises": [{"id", "points", "max_points", "message", "seconds"}],
    "questions": [...], "total", "max_total", "seed", "seconds"}``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise OSError(f"{directory} is not a directory; give the student's course directory")
    if manifest is None:
        from numpy_bert.course import default_course_dir

        try:
            manifest = default_course_dir() / "manifest.json"
        except OSError:
            manifest = directory / "manifest.json"
    if not isinstance(manifest, dict):
        manifest = load_manifest(manifest)
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    start = time.perf_counter()
    # the hidden checks (and the numpy_bert modules they use) are imported once, here: each
    # child process then starts with them loaded
    for exercise in manifest["exercises"]:
        importlib.import_module(exercise["check"].split(":")[0])
    chosen = [(exercise, [seed, index]) for index, exercise in enumerate(manifest["exercises"])
              if not only or any(exercise["id"].startswith(prefix) for prefix in only)]
    if only and not chosen:
        raise ValueError(f"no exercise id starts with {' or '.join(only)}; ids look like "
                         f"{manifest['exercises'][0]['id']!r} (see the manifest)")
    if hasattr(os, "fork"):
        results = _grade_in_children(directory, chosen, timeout, max(1, jobs))
    else:
        results = [grade_exercise(directory, exercise, s, timeout) for exercise, s in chosen]
    rows = []
    for (exercise, _), result in zip(chosen, results):
        points = round(result["fraction"] * exercise["points"], 2)
        rows.append({"id": exercise["id"], "points": points, "max_points": exercise["points"],
                     "message": result["message"], "seconds": round(result["seconds"], 3)})
    questions = [{"id": q["id"], "notebook": q.get("notebook"), "max_points": q["points"]}
                 for q in manifest["questions"]
                 if not only or any(q["id"].startswith(prefix) for prefix in only)]
    return {"exercises": rows, "questions": questions,
            "total": round(sum(r["points"] for r in rows), 2),
            "max_total": sum(r["max_points"] for r in rows), "seed": seed,
            "seconds": round(time.perf_counter() - start, 2)}


def format_report(report):
    """The report as text: one line per exercise (points, id, message), then the totals."""
    rows = report["exercises"]
    width = max([len(r["id"]) for r in rows] + [8])
    lines = [f"{'points':>11}  {'exercise':<{width}}  message"]
    for r in rows:
        lines.append(f"{r['points']:5.2f} / {r['max_points']:<3g}  {r['id']:<{width}}  {r['message']}")
    lines.append(f"total: {report['total']:g} / {report['max_total']:g} points for {len(rows)} exercises "
                 f"(seed {report['seed']}, {report['seconds']:.1f} s)")
    if report["questions"]:
        hand = sum(q["max_points"] for q in report["questions"])
        lines.append(f"written questions, graded by hand: {len(report['questions'])} "
                     f"({hand:g} points): " + ", ".join(q["id"] for q in report["questions"]))
    return "\n".join(lines)
