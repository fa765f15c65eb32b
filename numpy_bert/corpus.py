"""A pretraining corpus that needs no download, and the corpus file format.

The format (google-research/bert's): one sentence per line, a blank line between
documents. Next sentence prediction draws its true pairs from within a document
and its random pairs from other documents, so a corpus needs at least two
documents, and many documents help NSP most.

``build_default_corpus()`` writes such a file from English prose that exists
wherever numpy_bert is installed:

- the docstrings of the Python standard library, numpy and matplotlib: every
  module's, class's and function's docstring is one document. The ``.py`` files are
  read and parsed with ``ast``, never imported (importing ``antigravity`` opens a
  browser, ``this`` prints a poem, GUI modules open windows), and numpy's
  ``add_newdoc(...)`` docstrings are read from the same parse trees; the standard
  library's C modules (``builtins``, ``math``, ``itertools``, ...) have no source, so
  their docstrings are read from the imported modules (``readline`` excepted), in a
  fresh interpreter, so that a Jupyter kernel's additions to ``builtins`` stay out;
- the reference texts of ``pydoc_data.topics`` (what ``help("assert")`` shows),
  one document per section.

Only prose is kept: numpydoc sections other than the summary and Notes
(Parameters, Returns, Examples, See Also, ...), Google-style ``Args:`` blocks,
reST field lists (``:param x:``), directives (``.. code-block::``), literal
blocks after ``::``, doctests (``>>>`` and their output), tables and code lines
are dropped; inline markup (````x````, ``:func:`f```) is reduced to its text.
What remains is split into sentences, and a sentence is kept only when it reads
like one (starts with a capital, ends with ``.``/``!``/``?``, mostly words). A
document with fewer than ``min_sentences`` sentences is dropped, and so is an
exact duplicate of an earlier document.

The result is cached in ``$NUMPY_BERT_HOME/corpus/`` (default
``~/.cache/numpy_bert/corpus/``), written atomically, under a name that hashes the
options and everything the text is read from (``installation_fingerprint``: the
Python version, the numpy and matplotlib versions, every file read with its size,
the C modules' names, this module's rules); the same installation gives the same
file, in a script, in pytest or in a Jupyter kernel.
"""

import ast
import hashlib
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import time
import tokenize
import warnings
from pathlib import Path

from .utils import atomic_write

__all__ = ["read_corpus", "write_corpus", "build_default_corpus", "docstring_sentences",
           "split_sentences", "default_corpus_path", "installation_fingerprint"]

CORPUS_RECIPE_VERSION = 2  # bump when the extraction rules change: it renames the cache file


# ----------------------------------------------------------------------------------------
# The file format


def read_corpus(path, min_documents=2):
    """Read a corpus file: one sentence per line, a blank line between documents.

    Returns a list of documents, each a list of sentences (str, stripped).
    Raises OSError when the file cannot be read and ValueError when it holds no
    document or fewer than ``min_documents`` (next sentence prediction needs two:
    its random B comes from another document).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"corpus file {str(path)!r} does not exist: give a text file with one "
                                "sentence per line and a blank line between documents, or build the "
                                "default corpus with numpy_bert.corpus.build_default_corpus()") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"corpus file {str(path)!r} is not UTF-8 text ({e.reason} at byte {e.start}); "
                         "convert it to UTF-8") from None
    documents, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    if not documents:
        raise ValueError(f"corpus file {str(path)!r} is empty: it needs documents of sentences, one "
                         "sentence per line, a blank line between documents")
    if len(documents) < min_documents:
        raise ValueError(f"corpus file {str(path)!r} holds {len(documents)} document(s), but at least "
                         f"{min_documents} are needed: next sentence prediction draws its random second "
                         "segment from another document. Separate documents with a blank line.")
    return documents


def write_corpus(documents, path):
    """Write documents (lists of sentences) in the corpus format, atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        for k, document in enumerate(documents):
            if k:
                f.write("\n")
            for sentence in document:
                sentence = " ".join(str(sentence).split())
                if sentence:
                    f.write(sentence + "\n")
    return Path(path)


# ----------------------------------------------------------------------------------------
# From a docstring to sentences

# numpydoc section headings whose content is prose; every other section is dropped
_PROSE_SECTIONS = {"", "notes", "extended summary", "description", "warning", "warnings", "details",
                   "background", "overview", "discussion", "introduction"}
# Google-style "Heading:" lines whose indented block is not prose
_GOOGLE_DROP = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|kwargs|other parameters|returns?|"
    r"yields?|raises|exceptions|attributes|methods|examples?|usage|see also|todo|warns|references|"
    r"input|inputs|output|outputs)\s*:\s*$", re.IGNORECASE)
_UNDERLINE = re.compile(r"^\s*([-=~^*#+`'\".:_])\1{2,}\s*$")  # ---- ==== ~~~~ under a heading
_TABLE_BORDER = re.compile(r"^\s*[=+\-|][=+\-| :]{2,}$")  # ==== ====, +----+----+, |---|
_FIELD = re.compile(r"^\s*:(param|parameter|arg|argument|key|keyword|kwarg|type|returns?|rtype|raises?|"
                    r"except|exception|ivar|cvar|var|vartype|yields?|ytype|meta)\b[^:]*:")
_TERM = re.compile(r"^\s*(?:[-*]\s+)?[`*]*[A-Za-z_][\w.*,` ]*\s:(\s|$)")  # "x : array_like", "- ``a`` : int"
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::\s*(.*)$")
_PROSE_DIRECTIVES = {"note", "warning", "attention", "caution", "important", "tip", "hint", "danger",
                     "admonition"}


def _indent(line):
    return len(line) - len(line.lstrip())


def _prose_lines(docstring):
    """Yield the lines of a docstring that may hold prose ('' for a paragraph break).

    Works line by line with a small state machine: a line that opens something to
    drop (a numpydoc section, a Google-style block, a directive, a literal block,
    a doctest, a table) sets how far the dropping goes.
    """
    lines = inspect.cleandoc(docstring).splitlines()
    section = ""
    skip_indent = None  # drop following lines indented more than this (and blank ones)
    in_doctest = False
    in_table = False
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        i += 1
        if skip_indent is not None:
            if not stripped or _indent(line) > skip_indent:
                continue
            skip_indent = None
            yield ""  # what follows a dropped block starts a new paragraph
        if in_doctest:  # a doctest's output runs to the next blank line
            if stripped:
                continue
            in_doctest = False
        if in_table:  # a simple table runs to the blank line after a border
            if not stripped and _TABLE_BORDER.match(lines[i - 2]):
                in_table = False
            continue
        # numpydoc section heading: a line underlined with ---- of (about) its length
        if stripped and _UNDERLINE.match(nxt) and not _UNDERLINE.match(line) and \
                len(nxt.strip()) >= 0.6 * len(stripped):
            section = stripped.lower().rstrip(":")
            i += 1
            yield ""
            continue
        if section not in _PROSE_SECTIONS:
            continue
        if not stripped:
            yield ""
            continue
        if stripped.startswith(">>>"):
            in_doctest = True
            yield ""
            continue
        if _GOOGLE_DROP.match(stripped) or _FIELD.match(line):
            skip_indent = _indent(line)
            yield ""
            continue
        m = _DIRECTIVE.match(line)
        if m:
            if m.group(2).lower() in _PROSE_DIRECTIVES:
                yield m.group(3)  # ".. note:: text": keep the text and the indented body
            else:
                skip_indent = _indent(line)
                yield ""
            continue
        if stripped.startswith(".. "):  # comments, link targets, substitutions
            skip_indent = _indent(line)
            yield ""
            continue
        if _TERM.match(line):  # "name : type" heads a numpydoc-style definition: drop the term
            yield ""
            continue
        if _TABLE_BORDER.match(line):
            in_table = stripped.startswith("=")
            yield ""
            continue
        if stripped.startswith("|") or stripped.startswith("+-"):  # grid table rows
            yield ""
            continue
        if stripped.endswith("::"):  # literal block follows: "Example::" -> "Example:"
            skip_indent = _indent(line)
            text = stripped[:-2].rstrip()
            yield (text + ":") if text else ""
            continue
        yield line


_ROLE = re.compile(r":[\w:.-]+:`~?!?([^`<]*?)(?:\s*<[^`>]*>)?`")  # :func:`~numpy.sum` -> numpy.sum
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]*>`_{1,2}")  # `text <url>`_ -> text
_LITERAL = re.compile(r"``([^`]+)``")
_INTERPRETED = re.compile(r"`([^`]+)`_{0,2}")
_EMPHASIS = re.compile(r"\*{1,2}([^*\s][^*]*?)\*{1,2}")
_FOOTNOTE = re.compile(r"\s*\[(?:\d+|#\w*|\*)\]_?")


def _clean_inline(text):
    """Reduce reST inline markup to its text."""
    text = _ROLE.sub(lambda m: m.group(1).lstrip("~"), text)
    text = _LINK.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _FOOTNOTE.sub("", text)
    text = re.sub(r"\|(\w+)\|", r"\1", text)  # |substitution|
    text = text.replace("\\", "")
    return " ".join(text.split())


_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "cf", "al", "mr", "mrs", "ms", "dr", "prof", "st", "no", "nos",
                  "fig", "figs", "eq", "eqs", "approx", "resp", "viz", "ca", "inc", "ltd", "jr", "sr", "vol",
                  "ed", "eds", "p", "pp", "ch", "sec", "ref", "refs", "def", "min", "max", "incl", "esp"}
_SENTENCE_END = re.compile(r"[.!?][\"')\]’”]*\s+(?=[\"'(\[‘“]?[A-Z0-9])")


def split_sentences(text):
    """Split a paragraph into sentences at ``.``/``!``/``?`` followed by a capital,
    except after abbreviations (``e.g.``, ``etc.``) and single initials."""
    sentences, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        before = text[start:m.start()].split()
        last = before[-1].lower().lstrip("\"'([‘“").rstrip(".") if before else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha() and text[m.start()] == "."):
            continue
        sentences.append(text[start:m.end()].strip())
        start = m.end()
    if text[start:].strip():
        sentences.append(text[start:].strip())
    return sentences


_WORD = re.compile(r"^[\"'(\[‘“]*[A-Za-z][A-Za-z0-9'’-]*[\"')\]’”]*[.,;:!?]?[\"')\]’”]*$")
_CODE_LINE = re.compile(r"(^\s*(def|class|import|from|return|raise|yield|assert|for|while|if|elif|else|try|"
                        r"except|with|print|lambda|@)\b.*[:(]\s*$)|(^\s*[\w.\[\]]+\s*[-+*/]?=\s*\S)|"
                        r"(^\s*[#$%] )|([;{}]\s*$)|(^\s*\w+\(.*\)\s*$)")


def _looks_like_code(block_lines):
    """A paragraph is code when a third of its lines look like statements."""
    code = sum(bool(_CODE_LINE.search(line)) for line in block_lines)
    return code * 3 >= len(block_lines)


_NON_LETTERS = re.compile(r"[^A-Za-z\u00c0-\u024f]+")


def _is_prose_sentence(sentence):
    words = sentence.split()
    if len(words) < 3 or len(sentence) > 1000:
        return False
    if not re.match(r"^[\"'(‘“]?[A-Z]", sentence) or not re.search(r"[.!?][\"')’”]*$", sentence):
        return False
    if "%(" in sentence or "{}" in sentence or ">>>" in sentence or "://" in sentence or \
            re.search(r"[A-Za-z]\{", sentence):  # templates, code, URLs, LaTeX (\mathbf{a})
        return False
    if sum(bool(_WORD.match(w)) for w in words) < 0.75 * len(words):
        return False
    return len(_NON_LETTERS.sub("", sentence)) >= 0.6 * len(sentence)


# a list item: "- text", "* text", "1. text", "(a) text", old stdlib style "name(args) -- text"
_ITEM = re.compile(r"^(?:[-*•]|\d+[.)]|\(\w\)|[\w.'\"]+(?:\([^)]*\))?\s+--?)\s+")


def docstring_sentences(docstring):
    """The prose sentences of a docstring (or of any reST-like text), in order.

        >>> docstring_sentences('''Return the sum.
        ...
        ... The sum is taken over all elements. Use it with care.
        ...
        ... Parameters
        ... ----------
        ... x : array_like
        ...     Input values.
        ... ''')
        ['Return the sum.', 'The sum is taken over all elements.', 'Use it with care.']
    """
    sentences, block = [], []

    def flush():
        if block and not _looks_like_code(block):
            text = _clean_inline(" ".join(line.strip() for line in block))
            # a bulleted or numbered list item reads as a sentence without its bullet
            text = _ITEM.sub("", text)
            sentences.extend(s for s in split_sentences(text) if _is_prose_sentence(s))
        block.clear()

    for line in _prose_lines(docstring):
        stripped = line.strip()
        # paragraphs end at blank lines, and at a new list item ("- x", "1. x", "name -- x")
        if not stripped or _ITEM.match(stripped):
            flush()
        if stripped:
            block.append(line)
    flush()
    return sentences


# ----------------------------------------------------------------------------------------
# Where the text comes from


_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "encodings",
              "pydoc_data", "_vendor", "_vendored", "lib2to3_tests", "testing_data"}


def _python_files(root):
    """Every .py file under root except test packages, sorted for determinism."""
    root = Path(root)
    files = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        files += [Path(directory) / f for f in filenames
                  if f.endswith(".py") and not f.startswith("test_") and f != "conftest.py"]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _docstrings_of_file(path):
    """Docstrings of a .py file in source order: the module's, then every class's and
    function's (methods included), then numpy's ``add_newdoc(module, name, doc)``."""
    try:
        with tokenize.open(path) as f:  # honours "# -*- coding: ... -*-"
            source = f.read()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in old files
            tree = ast.parse(source, filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    out = []

    def visit(node):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append(doc)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.If, ast.Try)):
                visit(child)
            elif isinstance(child, ast.Expr) and isinstance(child.value, ast.Call):
                _add_newdoc(child.value, out)

    visit(tree)
    return out


def _add_newdoc(call, out):
    """numpy/_core/_add_newdocs.py: add_newdoc('numpy._core', 'ndarray', '''doc''') or
    add_newdoc(..., ('method', '''doc'''))."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    if not name.startswith("add_newdoc") or len(call.args) < 3:
        return
    doc = call.args[2]
    if isinstance(doc, ast.Tuple) and len(doc.elts) == 2:
        doc = doc.elts[1]
    if isinstance(doc, ast.Constant) and isinstance(doc.value, str):
        out.append(doc.value)


def _package_root(name):
    """Directory of an installed package, found without importing it (None if absent)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _topic_documents():
    """pydoc_data.topics: the reference text of help("topic"), one document per
    section (a heading underlined with *** / === / ---), in sorted topic order."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return []
    texts = []
    for name in sorted(topics):
        lines = topics[name].splitlines()
        current = []
        for k, line in enumerate(lines):
            nxt = lines[k + 1] if k + 1 < len(lines) else ""
            if line.strip() and _UNDERLINE.match(nxt) and not _UNDERLINE.match(line):
                texts.append("\n".join(current))  # a new section starts here
                current = []
                continue
            if _UNDERLINE.match(line):
                continue
            current.append(line)
        texts.append("\n".join(current))
    return [t for t in texts if t.strip()]


# C extension modules whose import has a visible effect (readline may write terminal
# escape codes) or that exist only to test the interpreter
_SKIP_EXTENSIONS = ("readline", "_test", "xx", "_xx", "_ctypes_test")


def _extension_module_names():
    """The standard library's C modules: built into the interpreter or in lib-dynload, sorted."""
    directory = Path(sysconfig.get_paths()["stdlib"]) / "lib-dynload"
    names = set(sys.builtin_module_names)
    if directory.is_dir():
        names |= {f.name.split(".")[0] for f in directory.iterdir() if f.name.endswith((".so", ".pyd"))}
    return sorted(n for n in names if not n.startswith(_SKIP_EXTENSIONS))


# Run in a fresh interpreter (-I: no PYTHON* variables, no user site): the C modules as
# Python starts them. Inside a Jupyter kernel, IPython has put display() and get_ipython()
# into builtins and replaced input() and sys.excepthook, so reading them in this process
# would give another corpus there than in a script.
_FRESH_EXTENSION_TEXTS = """import json, sys
sys.path.insert(0, sys.argv[1])
from numpy_bert.corpus import _extension_texts_of_this_process
sys.stdout.write(json.dumps(_extension_texts_of_this_process()))
"""


def _extension_texts():
    """Docstrings of the standard library's C modules (builtins, math, itertools,
    _io, ...), read in a fresh interpreter (``python -I``) so that what the current
    process changed (a Jupyter kernel's builtins) does not reach the corpus."""
    import json
    import subprocess

    package_parent = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run([sys.executable, "-I", "-c", _FRESH_EXTENSION_TEXTS, package_parent],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OSError(f"reading the docstrings of the C modules in a fresh {sys.executable} failed "
                      f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def _extension_texts_of_this_process():
    """The C modules' docstrings as this process sees them: they have no .py source, so
    these few are imported, which for C modules runs no Python code. Module, then its
    classes and functions by name, each class followed by its methods and properties
    by name."""
    texts = []
    for name in _extension_module_names():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated modules (audioop, nis, ...)
                module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module missing on this platform is skipped
            continue
        objects = [module]
        for _, value in sorted(vars(module).items()):
            if inspect.isclass(value) or inspect.isroutine(value):
                objects.append(value)
                if inspect.isclass(value):
                    objects += [v for _, v in sorted(vars(value).items())
                                if inspect.isroutine(v) or inspect.isdatadescriptor(v)]
        for obj in objects:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str) and doc.strip():
                texts.append(doc)
    return texts


SOURCES = ("stdlib", "builtins", "numpy", "matplotlib", "pydoc_topics")


def _source_root(source):
    """Where a source's .py files are (None for the C modules, pydoc's topics, an absent package)."""
    if source == "stdlib":
        return Path(sysconfig.get_paths()["stdlib"])
    if source in ("numpy", "matplotlib"):
        return _package_root(source)
    return None


def _source_texts(source):
    if source == "pydoc_topics":
        return _topic_documents()
    if source == "builtins":
        return _extension_texts()
    root = _source_root(source)
    if root is None:
        return []
    texts = []
    for path in _python_files(root):
        texts += _docstrings_of_file(path)
    return texts


def installation_fingerprint(sources=SOURCES):
    """sha256 of everything the default corpus is read from, without reading it.

    Python's full version string; for each .py source (the standard library, numpy,
    matplotlib) the installed version and every file read, as its relative path and
    size; the names of the C modules; the size of pydoc_data/topics.py; and this
    module's own source (the extraction rules). Two installations with the same
    fingerprint give the same corpus file.
    """
    h = hashlib.sha256()
    h.update(f"python {sys.version}\n".encode())
    h.update(Path(__file__).read_bytes())
    for source in sources:
        h.update(f"source {source}\n".encode())
        if source == "builtins":
            h.update(" ".join(_extension_module_names()).encode())
        elif source == "pydoc_topics":
            spec = importlib.util.find_spec("pydoc_data.topics")
            origin = Path(spec.origin) if spec is not None and spec.origin else None
            h.update(str(origin.stat().st_size if origin and origin.is_file() else "absent").encode())
        else:
            root = _source_root(source)
            if root is None:
                h.update(b"absent")
                continue
            if source != "stdlib":
                h.update(_installed_version(source).encode())
            for path in _python_files(root):
                h.update(f"{path.relative_to(root).as_posix()} {path.stat().st_size}\n".encode())
    return h.hexdigest()


def default_corpus_path(min_sentences=2, sources=SOURCES):
    """The cache file name: $NUMPY_BERT_HOME/corpus/default-py<version>-<hash>.txt, the hash
    covering the options and ``installation_fingerprint(sources)``."""
    key = f"recipe{CORPUS_RECIPE_VERSION}|{','.join(sources)}|{min_sentences}|{installation_fingerprint(sources)}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    home = os.environ.get("NUMPY_BERT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "numpy_bert")
    return Path(home) / "corpus" / f"default-py{sys.version.split()[0]}-{digest}.txt"


def _installed_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def build_default_corpus(path=None, min_sentences=2, sources=SOURCES, rebuild=False, verbose=False):
    """Build (or reuse) the default pretraining corpus; return its path.

    ``path``: where to write it (default: the cache file ``default_corpus_path()``;
    an existing file there is reused unless ``rebuild``). ``min_sentences``: a
    docstring or topic section becomes a document when it has at least this many
    prose sentences. ``sources``: any of "stdlib", "builtins" (C modules of the
    standard library), "numpy", "matplotlib", "pydoc_topics". The same installation always gives the same file.
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise ValueError(f"unknown corpus source(s) {unknown or sources}: choose from {list(SOURCES)}")
    if int(min_sentences) < 1:
        raise ValueError(f"min_sentences must be at least 1, got {min_sentences}")
    sources = tuple(sources)
    path = Path(path) if path is not None else default_corpus_path(min_sentences, sources)
    if path.is_file() and not rebuild:
        return path
    start = time.perf_counter()
    documents, seen = [], set()
    for source in sources:
        for text in _source_texts(source):
            sentences = docstring_sentences(text)
            if len(sentences) < min_sentences:
                continue
            key = "\n".join(sentences)
            if key in seen:  # inherited / copied docstrings
                continue
            seen.add(key)
            documents.append(sentences)
    if len(documents) < 2:
        raise ValueError(f"the sources {list(sources)} gave {len(documents)} document(s) with at least "
                         f"{min_sentences} sentences; lower min_sentences or add sources")
    write_corpus(documents, path)
    if verbose:
        size = path.stat().st_size
        print(f"default corpus: {len(documents)} documents, {sum(map(len, documents))} sentences, "
              f"{size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s -> {path}")
    return path


def main(argv=None):
    """``python -m numpy_bert.corpus [--out FILE] [--rebuild]``: build the default
    corpus and print its size."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m numpy_bert.corpus", description=main.__doc__)
    parser.add_argument("--out", help="where to write it (default: the cache file)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if the file exists")
    parser.add_argument("--min-sentences", type=int, default=2)
    args = parser.parse_args(argv)
    path = build_default_corpus(args.out, min_sentences=args.min_sentences, rebuild=args.rebuild,
                                verbose=True)
    documents = read_corpus(path)
    print(f"{path}: {len(documents)} documents, {sum(map(len, documents))} sentences, "
          f"{path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
