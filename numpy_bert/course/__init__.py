"""numpy_bert's course kit: assignments with hidden solutions, a student version and a grader.

The solution version lives in the repository's ``course/`` directory (exercise modules and
notebooks with nbgrader-style ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions, and
``course/manifest.json`` listing every exercise with its points). From the shell::

    numpy-bert course student handout/          # the student version: stubs, no solutions
    numpy-bert course grade handout/ [--json]   # points and a message for every exercise

``numpy_bert.course.student`` writes the student version, ``numpy_bert.course.grader``
grades a directory, and ``numpy_bert.course.checks`` holds the hidden checks (one module
per assignment, ``check_<function>(fn, rng) -> (fraction, message)``), which never travel
with the student version.
"""

from pathlib import Path

__all__ = ["default_course_dir"]


def default_course_dir():
    """The solution version: ``course/`` next to the ``numpy_bert`` package (a checkout of
    the repository). Raises OSError when it is not there (an installed package)."""
    course = Path(__file__).resolve().parent.parent.parent / "course"
    if not (course / "manifest.json").is_file():
        raise OSError(f"no course/manifest.json next to the numpy_bert package ({course}); run from a "
                      f"checkout of the numpy_bert repository or pass the course directory explicitly")
    return course
