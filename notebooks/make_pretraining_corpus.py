"""Write notebooks/fixtures/pretraining_corpus.txt, the corpus notebook 04 trains on.

    python notebooks/make_pretraining_corpus.py

It is 1,600 documents of numpy_bert's default corpus (``corpus.build_default_corpus()``),
drawn with ``numpy.random.default_rng(0)``. The default corpus is built from the
docstrings installed with Python, numpy and matplotlib, so another installation gives
another corpus; the notebook reads this committed file instead, so that a student's
numbers are the ones committed. The committed file was written from Python 3.11.7,
numpy 2.4.6 and matplotlib 3.11.2 (6,397 documents).
"""

from pathlib import Path

import numpy as np

from numpy_bert import corpus

OUT = Path(__file__).resolve().parent / "fixtures" / "pretraining_corpus.txt"
N_DOCUMENTS = 1600


def main():
    documents = corpus.read_corpus(corpus.build_default_corpus())
    chosen = np.random.default_rng(0).permutation(len(documents))[:N_DOCUMENTS]
    corpus.write_corpus([documents[i] for i in chosen], OUT)
    print(f"{OUT}: {N_DOCUMENTS} of the default corpus's {len(documents)} documents, "
          f"{OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
