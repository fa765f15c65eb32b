"""Build and execute the teaching notebooks, writing their outputs in place.

This is the one command that refreshes the committed outputs:

    python notebooks/run_notebooks.py              # all eight notebooks
    python notebooks/run_notebooks.py 01 05        # only those whose name contains 01 or 05

Each notebook is rebuilt from its source in notebooks/src/, executed top to bottom
in a fresh kernel (working directory notebooks/), checked (no cell may fail or write
to stderr, which is where warnings go), and written back with its outputs.
tests/test_notebooks.py re-executes them and fails when a committed notebook is stale.
Needs the optional extra: pip install -e ".[notebooks]".
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import NOTEBOOKS_DIR, build_notebook, notebook_path, source_files  # noqa: E402

CELL_TIMEOUT_S = 600


def execute(nb, timeout=CELL_TIMEOUT_S):
    """Execute ``nb`` in place in a fresh python3 kernel started in notebooks/."""
    # debugpy prints a warning about frozen modules on stderr at kernel start-up;
    # it says nothing about the notebook, so silence it.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    client.execute()
    return nb


def problems(nb):
    """Outputs a student should never see: errors, warnings, anything on stderr."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index}: error {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                found.append(f"cell {index}: stderr: {output.text.strip()[:300]}")
            else:
                text = output_text(output)
                if "Warning:" in text:
                    found.append(f"cell {index}: a warning in the output: {text.strip()[:300]}")
    return found


def output_text(output):
    """The text a reader sees for one output (stream text or text/plain)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if output.output_type == "error":
        return "\n".join(output.get("traceback", []))
    return ""


def cell_text(cell):
    """All the text outputs of one code cell, concatenated (images left out)."""
    return "".join(output_text(output) for output in cell.get("outputs", []))


def merge_streams(nb):
    """Join consecutive stdout (or stderr) chunks of a cell into one output.

    How the kernel splits a cell's printing into messages depends on timing; merged, the
    committed notebook does not change from one run to the next when its text does not.
    """
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            if (output.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        if cell.cell_type == "code":
            cell.outputs = merged
    return nb


def run(source):
    """Build, execute, check and write one notebook; return seconds taken."""
    start = time.perf_counter()
    nb = execute(build_notebook(source))
    found = problems(nb)
    if found:
        raise RuntimeError(f"{source.name}: " + "\n".join(found))
    nbformat.write(merge_streams(nb), notebook_path(source))
    return time.perf_counter() - start


def main(argv=None):
    names = argv if argv is not None else sys.argv[1:]
    total = 0.0
    for source in source_files():
        if names and not any(name in source.stem for name in names):
            continue
        seconds = run(source)
        total += seconds
        print(f"executed {notebook_path(source).name}: {seconds:.1f} s")
    print(f"total {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
