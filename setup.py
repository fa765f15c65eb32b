"""numpy_bert: BERT (bert-base-cased) rebuilt in plain NumPy, forward and backward by hand."""
from setuptools import find_packages, setup

setup(
    name="numpy_bert",
    version="0.1.0",
    description="BERT in plain NumPy: hand-written forward and backward passes, "
    "a Python WordPiece tokenizer, checked against HuggingFace transformers.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["numpy_bert", "numpy_bert.*"]),
    install_requires=["numpy>=1.24", "regex>=2022.1.18", "matplotlib>=3.6"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        # Reference-only: never imported by numpy_bert/ itself. Pinned to the versions
        # the committed fixtures were generated with.
        "reference": [
            "torch==2.13.0", "transformers==5.24.0",
            # only for the check that mean-pooled MiniLM embeddings equal its own
            "sentence-transformers==6.2.0",
            # numpy_bert.metrics against scikit-learn's and seqeval's metrics
            "scikit-learn==1.9.1", "seqeval==1.2.2",
        ],
        # run_notebooks.py needs nbclient, nbformat, ipykernel; a student opens them in JupyterLab
        "notebooks": ["nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6.29", "jupyterlab>=4", "nbconvert>=7"],
    },
    entry_points={"console_scripts": ["numpy-bert=numpy_bert.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
