"""Write tests/fixtures/weights/: files made by the reference libraries, for the plain suite.

    python tests/reference/make_weights_fixtures.py

Needs torch, transformers and safetensors (``pip install -e .[reference]``). Writes:

  all_dtypes.safetensors      every dtype numpy_bert reads, written by safetensors.torch
                              (BF16 included, which NumPy cannot write by itself), with
                              special values (inf, nan, -0.0, subnormals, extremes)
  all_dtypes_expected.npz     the same values as torch sees them (BF16 widened by torch
                              to float32), to compare numpy_bert's reader against
  hf_tiny/config.json,        a small random BertForPreTraining saved by transformers'
  hf_tiny/model.safetensors   save_pretrained (odd sizes, every parameter non-trivial)
  hf_tiny_params.npz          that model's named_parameters() values, read from torch
  hf_names.json               named_parameters() names and shapes, in order, of every
                              architecture numpy_bert has, for hf_tiny's config (num_labels=3; QA 2)
"""

import json
import shutil
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

from numpy_bert.weights import ARCHITECTURES

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "weights"


def all_dtypes():
    g = torch.Generator().manual_seed(0)
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan")])
    tensors = {}
    for name, dtype in (("f64", torch.float64), ("f32", torch.float32),
                        ("f16", torch.float16), ("bf16", torch.bfloat16)):
        info = torch.finfo(dtype)
        extremes = torch.tensor([info.max, -info.max, info.tiny, info.tiny / 4, info.eps],
                                dtype=torch.float64)
        random = torch.randn(3, 5, generator=g, dtype=torch.float64) * 100
        values = torch.cat([special.double(), extremes, random.flatten()]).to(dtype)
        tensors[name] = values.reshape(3, 9)
    for name, dtype in (("i64", torch.int64), ("i32", torch.int32), ("i16", torch.int16),
                        ("i8", torch.int8), ("u8", torch.uint8)):
        info = torch.iinfo(dtype)
        tensors[name] = torch.tensor([info.min, info.max, 0, 1, info.max // 3], dtype=dtype)
    tensors["bool"] = torch.tensor([[True, False], [False, True]])
    tensors["scalar"] = torch.tensor(3.25)                 # shape []
    tensors["empty"] = torch.zeros(0, 4)                   # shape [0, 4]
    tensors["embeddings.position_ids"] = torch.arange(12).reshape(1, 12)

    # One metadata key: the reference writes several in random order, and the plain
    # tests check that numpy_bert's writer reproduces this file byte for byte.
    save_file(tensors, OUT / "all_dtypes.safetensors", metadata={"format": "pt"})
    expected = {name: (t.float() if t.dtype == torch.bfloat16 else t).numpy()
                for name, t in tensors.items()}
    np.savez(OUT / "all_dtypes_expected.npz", **expected)


def hf_tiny():
    config = transformers.BertConfig(
        vocab_size=99, hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=37, max_position_embeddings=40, type_vocab_size=3,
        hidden_act="gelu")
    torch.manual_seed(0)
    model = transformers.BertForPreTraining(config).eval()
    # HF's init leaves biases at 0 and LayerNorm at 1: give every tensor distinct values.
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    target = OUT / "hf_tiny"
    shutil.rmtree(target, ignore_errors=True)
    model.save_pretrained(target)
    params = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
    np.savez(OUT / "hf_tiny_params.npz", **params)



def hf_names():
    """named_parameters() of every architecture numpy_bert has, at hf_tiny's sizes with
    num_labels=3 (so that the classifiers' N differs from NSP's 2), except for question
    answering, whose qa_outputs give (start, end): num_labels=2."""
    names = {"transformers_version": transformers.__version__}
    for name in ARCHITECTURES:
        num_labels = 2 if name == "BertForQuestionAnswering" else 3
        config = transformers.BertConfig.from_pretrained(OUT / "hf_tiny", num_labels=num_labels)
        m = getattr(transformers, name)(config)
        names[name] = [[n, list(p.shape)] for n, p in m.named_parameters()]
    (OUT / "hf_names.json").write_text(json.dumps(names, indent=1) + "\n")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    all_dtypes()
    hf_tiny()
    hf_names()
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>9}  {path.relative_to(OUT.parent.parent.parent)}")
