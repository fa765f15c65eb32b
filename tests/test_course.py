"""The course kit: the solution version gets full marks, the student version gets zero and holds
no solution code, each wrong solution of the bug zoo loses points exactly on its exercise with
its own message, and the grader survives hangs, crashes and calls into numpy_bert."""

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpy_bert.course import grader, student
from numpy_bert.course.checks import common
from tests.conftest import REPO

COURSE = REPO / "course"
MANIFEST = grader.load_manifest(COURSE / "manifest.json")
BUG_ZOO = sorted((REPO / "tests" / "course_bug_zoo").glob("a[0-9]_*.py"))
SEED = 20261202


def exercises(assignment=None):
    return [e for e in MANIFEST["exercises"] if assignment is None or e["assignment"] == assignment]


def copy_assignment(tmp_path, assignment):
    """The solution version of one assignment (and the manifest) in tmp_path/course."""
    target = tmp_path / "course"
    target.mkdir()
    shutil.copy(COURSE / "manifest.json", target)
    directory = Path(exercises(assignment)[0]["file"]).parent
    shutil.copytree(COURSE / directory, target / directory, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def append_to(course_dir, exercise_id, code):
    exercise = next(e for e in MANIFEST["exercises"] if e["id"] == exercise_id)
    with open(course_dir / exercise["file"], "a", encoding="utf-8") as f:
        f.write("\n\n" + code + "\n")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout") / "handout"
    student.write_student_version(COURSE, out)
    return out


# ----------------------------------------------------------------------------- the manifest


def test_manifest_lists_real_functions_checks_and_questions():
    assert len(exercises("a1")) + len(exercises("a2")) + len(exercises("a3")) >= 18
    for exercise in MANIFEST["exercises"]:
        source = (COURSE / exercise["file"]).read_text(encoding="utf-8")
        functions = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
        assert exercise["function"] in functions, exercise["id"]
        assert exercise["id"] == f"{exercise['assignment']}.{exercise['function']}"
        assert exercise["points"] > 0
        module, check = exercise["check"].split(":")
        assert check == "check_" + exercise["function"]
        assert callable(getattr(__import__(module, fromlist=[check]), check))
    for question in MANIFEST["questions"]:
        assert (COURSE / question["notebook"]).is_file(), question["id"]
        if question["assignment"] not in ("a1", "a2", "a3"):
            continue
        # each question is asked once, as "**Question aN.q_name** (P points)", answered in a region
        notebook = json.loads((COURSE / question["notebook"]).read_text(encoding="utf-8"))
        cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]
        asked = [c for c in cells if f"Question {question['id']}" in c]
        assert len(asked) == 1, question["id"]
        assert "<!-- BEGIN SOLUTION -->" in asked[0] and f"({question['points']} points)" in asked[0]


# ----------------------------------------------------------------------------- full marks, zero


def test_the_solution_version_gets_full_marks():
    report = grader.grade_directory(COURSE, seed=SEED)
    assert len(report["exercises"]) == len(MANIFEST["exercises"])
    wrong = [(r["id"], r["message"]) for r in report["exercises"] if r["points"] != r["max_points"]]
    assert wrong == []
    assert all(r["message"] == "correct" for r in report["exercises"])
    assert report["total"] == report["max_total"] == sum(e["points"] for e in MANIFEST["exercises"])
    # the bound for a whole submission on 2 cores
    assert report["seconds"] < 60


def test_the_student_version_gets_zero(student_dir):
    report = grader.grade_directory(student_dir, manifest=COURSE / "manifest.json", seed=SEED)
    assert report["total"] == 0
    for row in report["exercises"]:
        assert row["points"] == 0, row
        assert row["message"].startswith("not written yet (NotImplementedError: "), row


def _solution_lines(text):
    """The lines of code inside the solution regions of a source text (comments and short
    lines such as "return out" aside: they are not what gives a solution away)."""
    lines = []
    for _, _, _, _, body in student.solution_regions(text):
        for line in body:
            code = line.split("#")[0].strip()
            if len(code) >= 16:
                lines.append(code)
    return lines


def _specification(text):
    """The docstrings of a Python source: the formulas the exercises state on purpose."""
    tree = ast.parse(text)
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return "\n".join(ast.get_docstring(n) or "" for n in nodes)


def test_the_student_version_holds_no_solution_code(student_dir):
    """Every line of every solution region (and every sentence of every written answer) is
    searched for in every file of the student version; a line found there counts only if the
    exercise's docstrings (the specification, which states the formulas) do not hold it."""
    written = {p: p.read_text(encoding="utf-8") for p in student_dir.rglob("*") if p.is_file()}
    everything = "\n".join(written.values())
    assert "BEGIN SOLUTION" not in everything and "END SOLUTION" not in everything
    sources = [p for p in COURSE.rglob("*") if p.suffix in (".py", ".ipynb") and "src" not in p.parts
               and p.name != "build_notebooks.py"]
    checked = 0
    for source in sources:
        text = source.read_text(encoding="utf-8")
        if source.suffix == ".ipynb":
            notebook = json.loads(text)
            code = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
            answers = [answer for c in notebook["cells"] if c["cell_type"] == "markdown"
                       for answer in student._ANSWER.findall("".join(c["source"]))]
            lines = [line for cell in code for line in _solution_lines(cell)]
            for answer in answers:
                body = answer.split("-->", 1)[1].rsplit("<!--", 1)[0]
                lines += [sentence.strip() for sentence in body.split(".") if len(sentence.strip()) >= 25]
        else:
            specification = _specification(text)
            lines = [line for line in _solution_lines(text) if line not in specification]
        for line in lines:
            assert line not in everything, f"{source.relative_to(REPO)}: {line!r} is in the student version"
        checked += len(lines)
    assert checked > 100  # the search did search
    # the hidden checks never travel
    assert not any("checks" in p.parts for p in written)
    for path, text in written.items():
        if path.suffix == ".ipynb":
            for cell in json.loads(text)["cells"]:
                assert cell.get("outputs", []) == [] and cell.get("execution_count") is None


def test_stubs_keep_signatures_docstrings_and_hints(student_dir):
    for exercise in MANIFEST["exercises"]:
        solution = ast.parse((COURSE / exercise["file"]).read_text(encoding="utf-8"))
        stub = ast.parse((student_dir / exercise["file"]).read_text(encoding="utf-8"))
        find = lambda tree: next(n for n in tree.body if isinstance(n, ast.FunctionDef)  # noqa: E731
                                 and n.name == exercise["function"])
        a, b = find(solution), find(stub)
        assert ast.dump(a.args) == ast.dump(b.args)
        assert ast.get_docstring(a) == ast.get_docstring(b)
        raises = [n for n in ast.walk(b) if isinstance(n, ast.Raise)]
        assert raises and raises[-1].exc.func.id == "NotImplementedError"


# ----------------------------------------------------------------------------- the bug zoo


def _entry(path):
    namespace = {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ("EXERCISE", "EXPECTED", "ALSO_AFFECTS"):
            namespace[node.targets[0].id] = ast.literal_eval(node.value)
    return namespace


def test_the_bug_zoo_is_big_enough():
    entries = [_entry(p) for p in BUG_ZOO]
    assert sum(e["EXERCISE"][:2] in ("a1", "a2", "a3") for e in entries) >= 8
    ids = {e["id"] for e in MANIFEST["exercises"]}
    assert all(e["EXERCISE"] in ids for e in entries)


def _rounds():
    """The bug zoo in rounds: each round is a copy of the course with several wrong solutions
    in it, at most one per exercise and none on an exercise another entry of the round also
    affects. The grader replaces every other exercise's function by a right one while it
    grades an exercise (RIGHT_HELPERS), so entries of a round cannot change each other's
    points, and each round costs one grading instead of one per entry."""
    rounds = []  # (set of affected exercise ids, list of entry paths)
    for path in BUG_ZOO:
        entry = _entry(path)
        affected = {entry["EXERCISE"], *entry.get("ALSO_AFFECTS", ())}
        for taken, paths in rounds:
            if not taken & affected:
                taken |= affected
                paths.append(path)
                break
        else:
            rounds.append((affected, [path]))
    return [paths for _, paths in rounds]


@pytest.fixture(scope="module")
def bug_zoo_reports(tmp_path_factory):
    """path of an entry -> the report of its round (graded once, on the assignments it touches)."""
    reports = {}
    for number, paths in enumerate(_rounds()):
        course = tmp_path_factory.mktemp(f"bug_zoo_round_{number}")
        assignments = sorted({_entry(p)["EXERCISE"].split(".")[0] for p in paths})
        target = course / "course"
        target.mkdir()
        for assignment in assignments:
            directory = Path(exercises(assignment)[0]["file"]).parent
            shutil.copytree(COURSE / directory, target / directory, ignore=shutil.ignore_patterns("__pycache__"))
        for path in paths:
            append_to(target, _entry(path)["EXERCISE"], path.read_text(encoding="utf-8"))
        report = grader.grade_directory(target, manifest=COURSE / "manifest.json", seed=SEED,
                                        only=[a + "." for a in assignments])
        for path in paths:
            reports[path] = (report, paths)
    return reports


@pytest.mark.parametrize("path", BUG_ZOO, ids=[p.stem for p in BUG_ZOO])
def test_a_wrong_solution_loses_points_exactly_on_its_exercise(path, bug_zoo_reports):
    entry = _entry(path)
    report, round_paths = bug_zoo_reports[path]
    rows = {r["id"]: r for r in report["exercises"]}
    target = rows[entry["EXERCISE"]]
    assert target["points"] < target["max_points"], target
    assert entry["EXPECTED"] in target["message"], target["message"]
    # every exercise of the round that no entry of the round touches keeps full marks
    affected = set()
    for other in round_paths:
        other_entry = _entry(other)
        affected |= {other_entry["EXERCISE"], *other_entry.get("ALSO_AFFECTS", ())}
    assignment = entry["EXERCISE"].split(".")[0]
    for exercise_id, row in rows.items():
        if exercise_id not in affected and exercise_id.startswith(assignment + "."):
            assert row["points"] == row["max_points"], row


# ----------------------------------------------------------------------------- isolation


def test_a_hang_or_a_crash_costs_only_its_exercise(tmp_path):
    course = copy_assignment(tmp_path, "a3")
    append_to(course, "a3.gelu_backward", "def gelu_backward(dout, cache):\n    while True:\n        pass")
    append_to(course, "a3.linear_backward", "import os, signal\n\ndef linear_backward(dout, cache):\n"
                                            "    os.kill(os.getpid(), signal.SIGSEGV)")
    append_to(course, "a3.softmax_backward", "import sys\n\ndef softmax_backward(dout, cache):\n"
                                             "    print('noise'); sys.exit(3)")
    report = grader.grade_directory(course, manifest=COURSE / "manifest.json", seed=SEED, only=["a3."],
                                    timeout=2.0)
    rows = {r["id"]: r for r in report["exercises"]}
    assert rows.pop("a3.gelu_backward")["message"].startswith("timed out after 2 s")
    assert rows.pop("a3.linear_backward")["message"] == "crashed the grading process (killed by signal 11)"
    assert rows.pop("a3.softmax_backward")["message"].startswith("raised SystemExit: 3")
    assert all(r["points"] == r["max_points"] for r in rows.values()), rows


def test_a_file_that_does_not_import_costs_its_exercises(tmp_path):
    course = copy_assignment(tmp_path, "a2")
    with open(course / "a2_forward" / "forward_exercises.py", "a", encoding="utf-8") as f:
        f.write("\ndef broken(:\n")
    report = grader.grade_directory(course, manifest=COURSE / "manifest.json", seed=SEED, only=["a2.gelu"])
    (row,) = report["exercises"]
    assert row["points"] == 0
    assert row["message"].startswith("could not import a2_forward/forward_exercises.py: SyntaxError")


@pytest.mark.parametrize("exercise_id, code, called", [
    ("a3.layer_norm_backward", "from numpy_bert import layers\n\ndef layer_norm_backward(dout, cache):\n"
     "    return layers.layer_norm_backward(dout, cache)", "numpy_bert.layers.layer_norm_backward"),
    ("a2.gelu_forward", "from numpy_bert import fast\n\ndef gelu_forward(x):\n    return fast.gelu_forward(x)[0]",
     "numpy_bert.fast.gelu.gelu_forward"),
    ("a1.basic_tokenize", "from numpy_bert.tokenization import BasicTokenizer\n\n"
     "def basic_tokenize(text, do_lower_case=True):\n    return BasicTokenizer(do_lower_case).tokenize(text)",
     "numpy_bert.tokenization.BasicTokenizer.__init__"),
    ("a2.softmax", "from numpy_bert.course.checks import a2 as hidden\n\ndef softmax(x, axis=-1):\n"
     "    return hidden.RIGHT_HELPERS['softmax'](x, axis)", "numpy_bert.course.checks.a2.<lambda>"),
])
def test_calling_numpy_bert_earns_nothing(tmp_path, exercise_id, code, called):
    assignment = exercise_id.split(".")[0]
    course = copy_assignment(tmp_path, assignment)
    append_to(course, exercise_id, code)
    report = grader.grade_directory(course, manifest=COURSE / "manifest.json", seed=SEED, only=[exercise_id])
    (row,) = report["exercises"]
    assert row["points"] == 0
    assert row["message"].startswith("0 points: calls numpy_bert's own implementation (")
    assert called in row["message"]


def test_a_composite_exercise_is_graded_on_its_own_steps(tmp_path):
    """The encoder layer calls the student's layer norm; a wrong layer norm costs only its own
    exercise, and the right one the grader puts in its place may call numpy_bert."""
    course = copy_assignment(tmp_path, "a2")
    append_to(course, "a2.layer_norm_forward", "def layer_norm_forward(x, weight, bias, eps):\n    return x")
    report = grader.grade_directory(course, manifest=COURSE / "manifest.json", seed=SEED,
                                    only=["a2.layer_norm", "a2.encoder", "a2.embeddings"])
    points = {r["id"]: r["points"] for r in report["exercises"]}
    assert points == {"a2.layer_norm_forward": 0, "a2.embeddings_forward": 2, "a2.encoder_layer_forward": 3}


@pytest.mark.parametrize("assignment", ["a1", "a2", "a3"])
def test_the_right_helpers_put_in_place_of_a_students_are_right(assignment):
    """RIGHT_HELPERS stand in for the student's functions while another exercise is graded:
    each passes its own exercise's check."""
    import importlib

    module = importlib.import_module(f"numpy_bert.course.checks.{assignment}")
    functions = {e["function"] for e in exercises(assignment)}
    assert set(module.RIGHT_HELPERS) <= functions
    for index, name in enumerate(sorted(module.RIGHT_HELPERS)):
        check = getattr(module, "check_" + name)
        fraction, message = check(common._right_helper(module.RIGHT_HELPERS[name]), np.random.default_rng([SEED, index]))
        assert (fraction, message) == (1.0, "correct"), name


# ----------------------------------------------------------------------------- the helpers' messages


def test_compare_names_the_factor_the_sign_and_the_transpose():
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((5, 3))
    hint = {8.0: "is the 1/sqrt(HS) in the backward?"}
    assert common.compare("dk", expected * 8.0, expected, factor_hints=hint) == \
        "dk is off by a factor of 8.0 (too large): is the 1/sqrt(HS) in the backward?"
    assert common.compare("dk", expected / 2.0, expected) == "dk is off by a factor of 2.0 (too small)"
    assert common.compare("dx", -expected, expected) == "dx has the wrong sign"
    assert common.compare("dw", expected.T, expected).startswith("dw is transposed")
    assert common.compare("dw", expected[:4], expected) == "dw has shape (4, 3), expected (5, 3)"
    assert common.compare("dw", expected.astype(np.float32), expected) == \
        "dw is float32 for float64 inputs: keep the inputs' dtype"
    assert common.compare("dx", expected + 1e-13, expected) is None
    assert common.compare("dx", None, expected).startswith("dx is None")


def test_score_says_which_outputs_are_right():
    fraction, message = common.score([("dx", "dx is wrong (relative error 1.0e+00)"), ("dweight", None),
                                      ("dbias", None)])
    assert fraction == pytest.approx(2 / 3)
    assert message == "dx is wrong (relative error 1.0e+00); dweight and dbias are right"


def test_the_gradient_check_catches_a_wrong_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5))
    dout = rng.standard_normal((3, 5))
    forward = lambda x: np.tanh(x)  # noqa: E731
    right = dout * (1 - np.tanh(x) ** 2)
    assert common.gradient_error(forward, {"x": x}, "x", right, dout, rng) < common.GRADCHECK_TOL
    assert common.gradient_error(forward, {"x": x}, "x", dout, dout, rng) > 1e-2


# ----------------------------------------------------------------------------- the student writer


def test_strip_solutions_keeps_the_indentation_and_the_hint():
    text = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    # HINT: square it\n    return x * x\n"
            "    ### END SOLUTION\n\n\ndef g():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")
    assert student.strip_solutions(text) == ('def f(x):\n    """Doc."""\n    raise NotImplementedError("square it")'
                                             '\n\n\ndef g():\n    raise NotImplementedError("write this part")\n')
    with pytest.raises(ValueError, match="line 2: BEGIN SOLUTION is never closed"):
        student.strip_solutions("x = 1\n### BEGIN SOLUTION\ny = 2\n")
    with pytest.raises(ValueError, match="line 1: END SOLUTION without a BEGIN"):
        student.strip_solutions("### END SOLUTION\n")


def test_student_notebook_empties_regions_answers_and_outputs():
    notebook = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["Why?\n", "<!-- BEGIN SOLUTION -->\n",
                                                             "Because.\n", "<!-- END SOLUTION -->\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": "### BEGIN SOLUTION\nx = 42\n"
         "### END SOLUTION\nprint(x)", "outputs": [{"output_type": "stream", "name": "stdout", "text": "42\n"}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = student.student_notebook(notebook)
    assert out["cells"][0]["source"] == "Why?\n" + student.ANSWER_PLACEHOLDER + "\n"
    assert out["cells"][1]["source"] == 'raise NotImplementedError("write this part")\nprint(x)'
    assert out["cells"][1]["outputs"] == [] and out["cells"][1]["execution_count"] is None
    assert notebook["cells"][1]["outputs"]  # the input is left alone


def test_the_student_version_is_never_written_over_files(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(OSError, match="not an empty directory"):
        student.write_student_version(COURSE, tmp_path / "taken")
    with pytest.raises(OSError, match="has no manifest.json"):
        student.write_student_version(tmp_path, tmp_path / "out")


# ----------------------------------------------------------------------------- the command line


def numpy_bert(*args):
    return subprocess.run([sys.executable, "-m", "numpy_bert", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_the_cli_writes_the_student_version_and_grades_it(tmp_path, capsys):
    out = tmp_path / "handout"
    result = numpy_bert("course", "student", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote the student version of {COURSE} into {out}: ")
    # fill in one exercise, as a student would
    append_to(out, "a3.linear_backward", "def linear_backward(dout, cache):\n    x, w, has_bias = cache\n"
                                         "    d = dout.reshape(-1, w.shape[0])\n"
                                         "    return (d @ w).reshape(x.shape), d.T @ x.reshape(-1, w.shape[1]), "
                                         "d.sum(0)")
    result = numpy_bert("course", "grade", out, "--json", "--only", "a3.linear", "a3.softmax", "--seed", "7")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["id"], r["points"], r["max_points"]) for r in report["exercises"]] == [
        ("a3.linear_backward", 2, 2), ("a3.softmax_backward", 0, 2)]
    assert set(report) >= {"exercises", "total", "max_total"} and report["total"] == 2
    assert set(report["exercises"][0]) >= {"id", "points", "max_points", "message"}
    from numpy_bert import cli

    assert cli.main(["course", "grade", str(out), "--only", "a3.linear"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["points", "exercise", "message"]
    assert text[1].split() == ["2.00", "/", "2", "a3.linear_backward", "correct"]
    assert text[2].startswith("total: 2 / 2 points for 1 exercises (seed ") and len(text) == 3


def test_the_cli_says_what_is_wrong_in_one_line(tmp_path, capsys):
    from numpy_bert import cli

    assert cli.main(["course", "grade", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err == f"numpy-bert course: error: {tmp_path / 'nowhere'} is not a directory; " \
                                      f"give the student's course directory\n"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert cli.main(["course", "student", str(tmp_path / "full")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not an empty directory" in err
    assert cli.main(["course", "grade", str(tmp_path), "--timeout", "0"]) == 1
    assert "--timeout must be a positive number" in capsys.readouterr().err
    assert cli.main(["course", "grade", str(tmp_path), "--only", "a9"]) == 1
    assert "no exercise id starts with a9; ids look like " in capsys.readouterr().err


# ----------------------------------------------------------------------------- the notebooks


def _course_notebooks():
    return sorted(COURSE.glob("a[0-9]_*/a[0-9]_*.ipynb"))


def test_the_notebooks_are_built_from_their_sources():
    # by path, not `import build_notebooks`: tests/test_notebooks.py imports notebooks/'s module of
    # that name, and a later import here would get that one from sys.modules (an order-dependent failure)
    spec = importlib.util.spec_from_file_location("course_build_notebooks", COURSE / "build_notebooks.py")
    build_notebooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_notebooks)
    for source in sorted((COURSE / "src").glob("a[1-3]_*.py")):
        built = COURSE / source.stem / (source.stem + ".ipynb")
        assert json.loads(built.read_text(encoding="utf-8")) == build_notebooks.build_notebook(source), \
            f"{built.relative_to(REPO)} is stale: run python course/build_notebooks.py"


@pytest.mark.parametrize("name", ["a1_tokenization", "a2_forward", "a3_backward"])
def test_a_notebook_runs_on_the_solutions_and_its_sanity_checks_pass(name):
    notebook = json.loads((COURSE / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    code = "\n\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=COURSE / name,
                            timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr
    assert "WRONG" not in result.stdout and "FAIL" not in result.stdout, result.stdout
    assert result.stdout.count("ok ") + result.stdout.count("all good") >= 5
