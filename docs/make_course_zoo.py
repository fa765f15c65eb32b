"""Write the bug zoo's table into docs/course.md from the real grader's output.

For each entry of tests/course_bug_zoo/ (a wrong version of one exercise function), copy the
solution version of its assignment into a temporary directory, append the entry to the
exercise's file (the wrong function replaces the right one, as tests/test_course.py does),
grade that exercise with the grader and a fixed seed, and write one row: the mistake (the
entry's docstring), the exercise, the check that caught it, the points it kept and the
message it got. The rows replace what stands between the two marker lines of docs/course.md.

    python docs/make_course_zoo.py            # from the repository's root
"""

import ast
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from numpy_bert.course import grader  # noqa: E402
from numpy_bert.utils import atomic_write  # noqa: E402

GUIDE = REPO / "docs" / "course.md"
ZOO = REPO / "tests" / "course_bug_zoo"
BEGIN = "<!-- the bug zoo's table: written by docs/make_course_zoo.py -->"
END = "<!-- end of the bug zoo's table -->"
SEED = 20261202  # tests/test_course.py's


def entry(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    values = {"doc": (ast.get_docstring(tree) or "").strip()}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in ("EXERCISE", "EXPECTED"):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def grade(path, exercise, manifest):
    directory = Path(exercise["file"]).parent
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(REPO / "course" / directory, course / directory,
                        ignore=shutil.ignore_patterns("__pycache__"))
        with open(course / exercise["file"], "a", encoding="utf-8") as f:
            f.write("\n\n" + path.read_text(encoding="utf-8") + "\n")
        report = grader.grade_directory(course, manifest=manifest, seed=SEED, only=[exercise["id"]])
    (row,) = [r for r in report["exercises"] if r["id"] == exercise["id"]]
    return row


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def main():
    manifest = grader.load_manifest(REPO / "course" / "manifest.json")
    exercises = {e["id"]: e for e in manifest["exercises"]}
    rows = ["| mistake | exercise | caught by | points | the grader's message |", "|---|---|---|---|---|"]
    for path in sorted(ZOO.glob("a[0-9]_*.py")):
        values = entry(path)
        exercise = exercises[values["EXERCISE"]]
        row = grade(path, exercise, manifest)
        if values["EXPECTED"] not in row["message"] or row["points"] >= row["max_points"]:
            raise SystemExit(f"{path.name}: not caught as its entry says ({row['points']} points: {row['message']})")
        check = exercise["check"].replace("numpy_bert.course.checks.", "checks.")
        rows.append(f"| {cell(values['doc'])} (`{path.name}`) | `{exercise['id']}` | `{check}` | "
                    f"{row['points']:g} / {row['max_points']:g} | {cell(row['message'])} |")
        print(f"{path.name}: {row['points']:g} / {row['max_points']:g}", flush=True)
    text = GUIDE.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{GUIDE} lacks the marker lines {BEGIN!r} and {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with atomic_write(GUIDE, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail)
    print(f"wrote {len(rows) - 2} entries into {GUIDE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
