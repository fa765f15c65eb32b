"""Tests of the corpus format and the default corpus (numpy_bert.corpus)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numpy_bert.corpus import (build_default_corpus, default_corpus_path, docstring_sentences, read_corpus,
                               split_sentences, write_corpus)


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory):
    before = set(sys.modules)
    path = build_default_corpus(tmp_path_factory.mktemp("corpus") / "default.txt")
    return path, set(sys.modules) - before


def test_default_corpus_is_large_and_well_formed(default_corpus):
    from numpy_bert.train import PRESETS

    path, _ = default_corpus
    documents = read_corpus(path)
    sentences = [s for d in documents for s in d]
    size_mb = path.stat().st_size / 1e6
    print(f"default corpus: {len(documents)} documents, {len(sentences)} sentences, {size_mb:.2f} MB")
    tiny = PRESETS["tiny"]
    # large enough for the tiny preset that pretrains on it: the held-out documents
    # (heldout_fraction of them, each giving at least one pair) must give at least 100 NSP
    # pairs, so that held-out NSP accuracy has a standard error of at most
    # sqrt(0.25 / 100) = 0.05 ...
    assert len(documents) * tiny["heldout_fraction"] >= 100
    # ... and the WordPiece vocabulary it learns (vocab_size entries) must be able to hold
    # whole words rather than fragments: the corpus has at least that many distinct words
    words = {w.lower() for s in sentences for w in re.findall(r"[A-Za-z]+", s)}
    assert len(words) >= tiny["vocab_size"]
    assert all(len(d) >= 2 for d in documents)
    assert len({tuple(d) for d in documents}) == len(documents)  # no duplicate documents
    text = path.read_text(encoding="utf-8")
    assert "\n\n\n" not in text and text.endswith("\n") and not text.startswith("\n")


def test_default_corpus_has_no_code_or_doctest_lines(default_corpus):
    path, _ = default_corpus
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    code = re.compile(r"^\s*(>>>|\.\.\.|\.\. |def |class \w+[(:]|import |from \w+ import|@\w|#|\$ )|"
                      r"^\s*\w+\s*=\s*\S+$|^[-=~*+|]{3,}|::$|^\s*:(param|returns?|rtype|type)\b")
    bad = [line for line in lines if code.search(line)]
    assert bad == []
    # numpydoc parameter lines ("x : array_like") and section headings are gone
    assert not [line for line in lines if re.match(r"^\w+ : \w", line)]
    assert not [line for line in lines if line in ("Parameters", "Returns", "Examples", "See Also")]
    # every line reads as a sentence
    assert all(re.match(r"^[\"'(‘“]?[A-Z]", line) and re.search(r"[.!?][\"')’”]*$", line) for line in lines)


def _first_prose(candidates, min_sentences=2):
    """The prose sentences of the first candidate docstring that has at least min_sentences."""
    for doc in candidates:
        sentences = docstring_sentences(doc or "")
        if len(sentences) >= min_sentences:
            return sentences
    pytest.fail(f"none of the {len(candidates)} installed docstrings tried has {min_sentences} prose sentences")


def test_default_corpus_has_every_source(default_corpus):
    # the docstrings of this installation, whatever their wording: a few objects of each
    # source, read through Python itself (__doc__), must appear as a document
    import email.message
    import itertools
    import json
    import math

    import matplotlib.figure
    import numpy
    from pydoc_data.topics import topics

    path, _ = default_corpus
    text = "\n" + path.read_text(encoding="utf-8")
    sources = {
        "builtins (C modules)": [math.acos.__doc__, math.__doc__, itertools.groupby.__doc__, math.fsum.__doc__],
        "stdlib": [email.message.Message.keys.__doc__, json.__doc__, json.dumps.__doc__],
        "numpy": [numpy.ndarray.__doc__, numpy.mean.__doc__, numpy.dot.__doc__],
        "matplotlib": [matplotlib.figure.Figure.savefig.__doc__, matplotlib.figure.__doc__],
    }
    for source, candidates in sources.items():
        sentences = _first_prose(candidates)
        # the first sentences are a document's start (a later paragraph may be a
        # duplicate of another docstring's and start its own document)
        assert "\n" + "\n".join(sentences[:2]) + "\n" in text, source
    # pydoc's topics are cut into sections; most sentences of a topic are in the corpus
    topic = docstring_sentences(topics["assert"])
    assert sum(f"\n{s}\n" in text for s in topic) >= len(topic) / 2


def test_building_imports_no_module_with_side_effects(default_corpus):
    _, imported = default_corpus
    for name in ("antigravity", "this", "tkinter", "idlelib", "turtle", "readline", "lib2to3", "numpy.tests"):
        assert name not in imported


def test_default_corpus_is_deterministic_and_cached(tmp_path, monkeypatch):
    # (a second full build would double the time: two of the sources, built twice)
    sources = ("builtins", "pydoc_topics")
    one = build_default_corpus(tmp_path / "one.txt", sources=sources)
    two = build_default_corpus(tmp_path / "two.txt", sources=sources)
    assert one.read_bytes() == two.read_bytes() and len(read_corpus(one)) > 500
    monkeypatch.setenv("NUMPY_BERT_HOME", str(tmp_path / "home"))
    small = build_default_corpus(sources=("pydoc_topics",))
    assert small == default_corpus_path(sources=("pydoc_topics",))
    assert small.parent == tmp_path / "home" / "corpus"
    small.write_text("Stale.\n\nFile.\n", encoding="utf-8")
    assert build_default_corpus(sources=("pydoc_topics",)).read_text(encoding="utf-8") == "Stale.\n\nFile.\n"
    rebuilt = build_default_corpus(sources=("pydoc_topics",), rebuild=True).read_text(encoding="utf-8")
    assert len(read_corpus(small)) > 100 and "Stale." not in rebuilt
    with pytest.raises(ValueError, match="unknown corpus source"):
        build_default_corpus(tmp_path / "x.txt", sources=("wikipedia",))


NUMPYDOC = '''
Compute the arithmetic mean along the specified axis.

Returns the average of the array elements. The average is taken over
the flattened array by default, otherwise over the specified axis.

Parameters
----------
a : array_like
    Array containing numbers whose mean is desired. If `a` is not an
    array, a conversion is attempted.
axis : None or int, optional
    Axis along which the means are computed.

Returns
-------
m : ndarray
    A new array containing the mean values.

See Also
--------
average : Weighted average.

Notes
-----
The arithmetic mean is the sum of the elements divided by the number of
elements. By default, :class:`float16` results use ``float32`` intermediates.

.. math:: \\bar{x} = \\frac{1}{n} \\sum_i x_i

=====  =======
dtype  result
=====  =======
int    float64
=====  =======

Examples
--------
>>> a = np.array([[1, 2], [3, 4]])
>>> np.mean(a)
2.5
'''


def test_numpydoc_keeps_summary_and_notes_only():
    assert docstring_sentences(NUMPYDOC) == [
        "Compute the arithmetic mean along the specified axis.",
        "Returns the average of the array elements.",
        "The average is taken over the flattened array by default, otherwise over the specified axis.",
        "The arithmetic mean is the sum of the elements divided by the number of elements.",
        "By default, float16 results use float32 intermediates.",
    ]


def test_google_style_rest_fields_doctests_and_literal_blocks_are_dropped():
    doc = '''Fetch rows from a table.

    Retrieves rows pertaining to the given keys. Use it like this::

        rows = fetch(table, keys)
        for row in rows:
            print(row)

    The rows come back in order.

    >>> fetch(t, [1])
    {1: 'one'}
    Continued output of the doctest.

    Args:
        table: An open table handle. It must be open.
        keys: A sequence of keys.

    :param timeout: How long to wait. Seconds are used.
    :returns: The rows.

    .. versionadded:: 3.2
       The timeout parameter was added here.

    .. note:: Rows are cached. The cache is small.
    '''
    # "Use it like this:" ends with a colon, not a full stop: it is not kept as a sentence
    assert docstring_sentences(doc) == [
        "Fetch rows from a table.",
        "Retrieves rows pertaining to the given keys.",
        "The rows come back in order.",
        "Rows are cached.",
        "The cache is small.",
    ]


def test_code_paragraphs_are_dropped():
    text = '''The simple form is equivalent to the code below.

       if __debug__:
           if not expression: raise AssertionError

    x = compute(a, b)
    y = x + 1

    Let :math:`\\mathbf{a}` be a vector. Formats like "%(name)s" are filled in later.
    '''
    assert docstring_sentences(text) == ["The simple form is equivalent to the code below."]


def test_split_sentences_respects_abbreviations():
    assert split_sentences("Use a view (e.g. Foo) here. Then stop, i.e. End it. Fig. 3 shows it! Done") == [
        "Use a view (e.g. Foo) here.", "Then stop, i.e. End it.", "Fig. 3 shows it!", "Done"]


def test_read_corpus_format_and_errors(tmp_path):
    path = write_corpus([["First sentence.", "Second one."], ["Another document."]], tmp_path / "c.txt")
    assert path.read_text(encoding="utf-8") == "First sentence.\nSecond one.\n\nAnother document.\n"
    assert read_corpus(path) == [["First sentence.", "Second one."], ["Another document."]]
    (tmp_path / "crlf.txt").write_bytes(b"A one.\r\n  B two.  \r\n\r\n\r\n\r\nC three.\r\n")
    assert read_corpus(tmp_path / "crlf.txt") == [["A one.", "B two."], ["C three."]]
    (tmp_path / "empty.txt").write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        read_corpus(tmp_path / "empty.txt")
    (tmp_path / "one.txt").write_text("Only one document.\nWith two sentences.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 document.*next sentence prediction"):
        read_corpus(tmp_path / "one.txt")
    assert read_corpus(tmp_path / "one.txt", min_documents=1) == [["Only one document.", "With two sentences."]]
    with pytest.raises(OSError, match="does not exist"):
        read_corpus(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9.\n\nb.\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        read_corpus(tmp_path / "latin1.txt")


def test_c_module_docstrings_do_not_see_what_this_process_added(monkeypatch):
    # A Jupyter kernel puts display() and get_ipython() into builtins and replaces input()
    # and sys.excepthook with Python functions (6398 documents there, 6397 in a script).
    # The C modules' docstrings are read in a fresh interpreter, so none of it gets in.
    import builtins

    from numpy_bert import corpus

    def display(*objs):
        """Display a Python object in all frontends, a docstring only a kernel has."""

    def forwarded_input(prompt=""):
        """Forward raw_input to frontends, another docstring only a kernel has."""

    monkeypatch.setattr(builtins, "display", display, raising=False)
    monkeypatch.setattr(builtins, "input", forwarded_input)
    monkeypatch.setattr(sys, "excepthook", display)
    polluted = corpus._extension_texts_of_this_process()
    assert display.__doc__ in polluted and forwarded_input.__doc__ in polluted  # what reading in-process gives
    texts = corpus._extension_texts()
    assert display.__doc__ not in texts and forwarded_input.__doc__ not in texts
    # what a plain script reads (pytest's own process is not one: it replaces sys.unraisablehook)
    code = ("import json; from numpy_bert.corpus import _extension_texts_of_this_process as f; "
            "print(json.dumps(f()))")
    script = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env=dict(os.environ, PYTHONPATH=str(Path(corpus.__file__).parent.parent)))
    assert texts == json.loads(script.stdout)
    assert len(texts) > 1000


def test_cache_name_follows_every_file_the_corpus_is_read_from(tmp_path, monkeypatch):
    from numpy_bert import corpus

    fake = tmp_path / "numpy"
    (fake / "linalg").mkdir(parents=True)
    (fake / "__init__.py").write_text('"""A fake numpy."""\n', encoding="utf-8")
    (fake / "linalg" / "core.py").write_text('"""Linear algebra."""\n', encoding="utf-8")
    monkeypatch.setattr(corpus, "_package_root", lambda name: fake if name == "numpy" else None)
    monkeypatch.setattr(corpus, "_installed_version", lambda name: "1.0")
    first = corpus.default_corpus_path(sources=("numpy",))
    assert corpus.default_corpus_path(sources=("numpy",)) == first  # same installation, same name
    assert corpus.default_corpus_path(sources=("numpy", "pydoc_topics")) != first  # other sources
    assert corpus.default_corpus_path(min_sentences=3, sources=("numpy",)) != first  # other options
    (fake / "linalg" / "core.py").write_text('"""Linear algebra, edited."""\n', encoding="utf-8")
    edited = corpus.default_corpus_path(sources=("numpy",))
    assert edited != first  # a file changed size
    (fake / "linalg" / "extra.py").write_text("", encoding="utf-8")
    added = corpus.default_corpus_path(sources=("numpy",))
    assert added not in (first, edited)  # a file was added
    monkeypatch.setattr(corpus, "_installed_version", lambda name: "2.0")
    versioned = corpus.default_corpus_path(sources=("numpy",))
    assert versioned not in (first, edited, added)  # another version
    (fake / "tests").mkdir()
    (fake / "tests" / "test_x.py").write_text("x = 1\n", encoding="utf-8")  # never read: no change
    assert corpus.default_corpus_path(sources=("numpy",)) == versioned
