"""Checkpoint I/O in plain NumPy: safetensors and .npz files, and HF parameter names.

The safetensors format (https://github.com/huggingface/safetensors) is simple enough
to read with ``struct``, ``json`` and ``numpy``:

    bytes 0..8        N, the header length, unsigned 64-bit little-endian
    bytes 8..8+N      a JSON object, padded with spaces:
                        {"__metadata__": {"format": "pt"},            (optional, str -> str)
                         "bert.pooler.dense.bias": {"dtype": "F32",
                                                    "shape": [768],
                                                    "data_offsets": [0, 3072]}, ...}
    bytes 8+N..end    the data buffer: every tensor's raw little-endian bytes, row-major,
                      at [begin, end) relative to the start of the buffer

Reading maps the file into memory (``mmap``) and wraps each tensor's bytes in an
ndarray with ``np.frombuffer``: nothing is copied, so a 436 MB checkpoint "loads"
in milliseconds and pages are read from disk only when touched. Every offset is
checked against the file size before any array is made, so a corrupt file gives a
ValueError naming the tensor, never a read outside the file.

Parameter names are HuggingFace's ``named_parameters()`` names; ``expected_shapes``
lists them in HF's order and ``load_state_dict`` maps the variants found in real
checkpoints (``bert.`` prefix or not, legacy ``gamma``/``beta``, the tied decoder
weight, the ``position_ids`` buffer) onto them.
"""

import json
import mmap
import os
import struct
import zipfile
from collections.abc import Mapping

import numpy as np

from numpy_bert.utils import atomic_write

# ---------------------------------------------------------------------------------------
# safetensors dtypes
# ---------------------------------------------------------------------------------------

# safetensors dtype name -> NumPy dtype of the stored bytes (always little-endian).
# BF16 has no NumPy dtype: it is stored as uint16 and widened to float32 on load.
SAFETENSORS_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# NumPy dtype -> safetensors name, for writing. NumPy has no bfloat16: BF16 is written
# only on request (save_safetensors(..., bf16=[names])), from float arrays.
_NUMPY_TO_SAFETENSORS = {np.dtype(v).newbyteorder("="): k
                         for k, v in SAFETENSORS_DTYPES.items() if k not in ("BF16",)}

# The reference writer lays tensors out by dtype in this order (wider types first, so
# every tensor stays aligned to its element size), then by name. Following it makes our
# files byte-identical to safetensors' own.
_WRITE_ORDER = ["U64", "I64", "F64", "F32", "U32", "I32", "BF16", "F16", "U16", "I16",
                "I8", "U8", "BOOL"]

# A header larger than this is refused outright (the reference implementation uses 100 MB).
MAX_HEADER_BYTES = 100_000_000


def bf16_to_float32(bits):
    """Widen bfloat16 bit patterns (uint16) to float32, exactly.

    bfloat16 is the top half of a float32 (1 sign, 8 exponent, 7 mantissa bits), so
    shifting the 16 bits into the high half of a 32-bit word gives the same number:

        float32_bits = uint32(bf16_bits) << 16
    """
    bits = np.asarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def float32_to_bf16(x):
    """Round float32 to bfloat16 bit patterns (uint16), round-to-nearest-even (like torch).

    NaN stays NaN (its payload is kept quiet). Used by tests and by anyone who wants to
    write BF16 files with ``save_safetensors(..., bf16=[names])``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounding = ((bits >> 16) & 1) + 0x7FFF          # ties go to the even bf16 value
    out = ((bits + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)  # keep NaNs NaN
    return out


# ---------------------------------------------------------------------------------------
# reading safetensors
# ---------------------------------------------------------------------------------------

def _no_duplicate_keys(pairs):
    """json object hook: a name given twice would silently shadow a tensor; refuse it.

    (Python's json keeps the last of two equal names; hub's strict reading of config
    files uses this hook too.)"""
    d = {}
    for key, value in pairs:
        if key in d:
            raise ValueError(f"a JSON object names {key!r} twice")
        d[key] = value
    return d


def _read_header(f, path, file_size):
    """Parse and validate the header; return (entries, metadata, buffer_start).

    entries: list of (name, dtype_name, shape tuple, begin, end) sorted by begin.
    """
    if file_size < 8:
        raise ValueError(f"{path}: not a safetensors file: {file_size} bytes is too short "
                         f"for the 8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"{path}: corrupt safetensors file: header length {n} bytes is larger "
                         f"than the {MAX_HEADER_BYTES}-byte limit (is this really a safetensors "
                         f"file?)")
    if n > file_size - 8:
        raise ValueError(f"{path}: corrupt or truncated safetensors file: the header claims "
                         f"{n} bytes but the file has only {file_size - 8} after the length")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: corrupt safetensors file: header is not UTF-8 ({e})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt safetensors file: header is not valid JSON: "
                         f"{e.msg} at character {e.pos}") from None
    except (ValueError, RecursionError) as e:  # duplicate names, absurd nesting
        raise ValueError(f"{path}: corrupt safetensors file: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: corrupt safetensors file: header must be a JSON object, "
                         f"got {type(header).__name__}")

    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError(f"{path}: corrupt safetensors file: __metadata__ must map "
                             f"strings to strings, got {metadata!r:.200}")

    buffer_start = 8 + n
    buffer_size = file_size - buffer_start
    entries = []
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise ValueError(f"{where}: header entry must be an object with dtype, shape, "
                             f"data_offsets; got {info!r:.200}")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
        if missing:
            raise ValueError(f"{where}: header entry lacks {', '.join(missing)}")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype_name not in SAFETENSORS_DTYPES:
            raise ValueError(f"{where}: unknown or unsupported dtype {dtype_name!r}; numpy_bert "
                             f"reads {', '.join(SAFETENSORS_DTYPES)}")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"{where}: shape must be a list of non-negative integers, "
                             f"got {shape!r:.200}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
            raise ValueError(f"{where}: data_offsets must be [begin, end] with non-negative "
                             f"integers, got {offsets!r:.200}")
        begin, end = offsets
        if begin > end:
            raise ValueError(f"{where}: data_offsets [{begin}, {end}] end before they begin")
        if end > buffer_size:
            raise ValueError(f"{where}: data_offsets [{begin}, {end}] run past the end of the "
                             f"data buffer ({buffer_size} bytes); the file is truncated or corrupt")
        nbytes = SAFETENSORS_DTYPES[dtype_name].itemsize
        for d in shape:
            nbytes *= d
        if end - begin != nbytes:
            raise ValueError(f"{where}: data_offsets [{begin}, {end}] hold {end - begin} bytes "
                             f"but shape {shape} of {dtype_name} needs {nbytes}")
        entries.append((name, dtype_name, tuple(shape), begin, end))

    # The tensors must tile the buffer exactly: sorted by begin, each starts where the
    # previous one ended, and the last one ends at the end of the file.
    entries.sort(key=lambda e: (e[3], e[4]))
    position, previous = 0, None
    for name, _, _, begin, end in entries:
        if begin < position:
            raise ValueError(f"{path}: corrupt safetensors file: tensor {name!r} at bytes "
                             f"[{begin}, {end}) overlaps tensor {previous!r}, which ends at "
                             f"{position}")
        if begin > position:
            raise ValueError(f"{path}: corrupt safetensors file: {begin - position} bytes "
                             f"before tensor {name!r} (at {begin}) belong to no tensor")
        position, previous = end, name
    if position != buffer_size:
        raise ValueError(f"{path}: corrupt safetensors file: the tensors cover {position} bytes "
                         f"but the data buffer has {buffer_size}")
    return entries, metadata, buffer_start


def read_safetensors_header(path):
    """Return ({name: (dtype_name, shape)}, metadata) without touching any tensor data."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        entries, metadata, _ = _read_header(f, path, os.fstat(f.fileno()).st_size)
    return {name: (dt, shape) for name, dt, shape, _, _ in entries}, metadata


def load_safetensors(path, dtype=None, writable=False):
    """Load every tensor of a .safetensors file: dict name -> ndarray, in data order.

    The arrays are views into a memory map of the file, so loading costs no copying;
    BF16 and F16 tensors are converted to float32 (exact: both are subsets of float32).

    dtype:    if given, convert every floating-point tensor to it (integer and bool
              tensors, such as ``position_ids``, are left alone).
    writable: False (default) maps the file read-only, so the arrays are read-only;
              True maps it copy-on-write: the arrays can be changed in place (training)
              and the file on disk never changes.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        entries, _, buffer_start = _read_header(f, path, file_size)
        buffer = None
        if file_size > buffer_start:
            access = mmap.ACCESS_COPY if writable else mmap.ACCESS_READ
            buffer = mmap.mmap(f.fileno(), 0, access=access)
            if len(buffer) != file_size:  # the file changed under us
                raise ValueError(f"{path}: the file changed size while being read; try again")
    tensors = {}
    for name, dtype_name, shape, begin, end in entries:
        stored = SAFETENSORS_DTYPES[dtype_name]
        count = (end - begin) // stored.itemsize
        if count == 0:  # an empty tensor has no bytes to map
            array = np.empty(shape, dtype=stored)
            array.flags.writeable = writable
        else:
            array = np.frombuffer(buffer, dtype=stored, count=count,
                                  offset=buffer_start + begin).reshape(shape)
        if dtype_name == "BF16":
            array = bf16_to_float32(array)
        elif dtype_name == "F16":
            array = array.astype(np.float32)
        if array.dtype.byteorder == ">":  # only on big-endian machines
            array = array.astype(array.dtype.newbyteorder("="))
        if dtype is not None and array.dtype.kind == "f":
            array = array.astype(dtype, copy=False)
        tensors[name] = array
    return tensors


# ---------------------------------------------------------------------------------------
# writing safetensors
# ---------------------------------------------------------------------------------------

def _check_tensor_dict(tensors, what):
    if not isinstance(tensors, Mapping):
        raise TypeError(f"{what} needs a dict of name -> ndarray, got {type(tensors).__name__}")
    out = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what}: tensor names must be non-empty strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError(f"{what}: '__metadata__' is reserved and cannot name a tensor")
        if not isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(f"{what}: tensor {name!r} must be a NumPy array, "
                            f"got {type(value).__name__}")
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise TypeError(f"{what}: tensor {name!r} has dtype object, which cannot be "
                            f"stored without pickle")
        out[name] = value
    return out


def save_safetensors(tensors, path, metadata=None, bf16=()):
    """Write a .safetensors file atomically (readable by the ``safetensors`` library).

    tensors:  dict name -> ndarray (float64/32/16, int64/32/16/8, uint*, bool)
    metadata: optional dict str -> str, stored as ``__metadata__``
    bf16:     names of float tensors to store as BF16 (rounded to nearest even)

    Like the reference implementation, tensors are laid out by dtype (widest first,
    see ``_WRITE_ORDER``) and then by name, and the JSON header is compact and padded
    with spaces to a multiple of 8 bytes: the file is byte-identical to the one
    ``safetensors.numpy.save_file`` writes.
    """
    tensors = _check_tensor_dict(tensors, "save_safetensors")
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_safetensors: metadata must be a dict of str -> str")
    bf16 = set(bf16)
    unknown = bf16 - set(tensors)
    if unknown:
        raise ValueError(f"save_safetensors: bf16 names {sorted(unknown)} are not tensors")

    arrays = {}  # name -> (dtype name, contiguous little-endian array)
    for name, value in tensors.items():
        if name in bf16:
            if value.dtype.kind != "f":
                raise TypeError(f"save_safetensors: tensor {name!r} ({value.dtype}) is not "
                                f"floating point and cannot be stored as BF16")
            arrays[name] = ("BF16", float32_to_bf16(value).astype("<u2", copy=False))
            continue
        native = value.dtype.newbyteorder("=")
        if native not in _NUMPY_TO_SAFETENSORS:
            raise TypeError(f"save_safetensors: tensor {name!r} has dtype {value.dtype}, which "
                            f"safetensors cannot store; use one of float64/32/16, int64/32/16/8, "
                            f"uint64/32/16/8, bool")
        dtype_name = _NUMPY_TO_SAFETENSORS[native]
        # np.asarray(order="C") keeps 0-d arrays 0-d (np.ascontiguousarray would not)
        arrays[name] = (dtype_name, np.asarray(value, dtype=SAFETENSORS_DTYPES[dtype_name],
                                               order="C"))

    order = sorted(arrays, key=lambda k: (_WRITE_ORDER.index(arrays[k][0]), k))
    header = {} if metadata is None else {"__metadata__": dict(metadata)}
    offset = 0
    for name in order:
        dtype_name, array = arrays[name]
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header_bytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # pad so the data buffer is 8-aligned

    with atomic_write(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for name in order:
            array = arrays[name][1]
            if array.nbytes:
                f.write(array.reshape(-1).view(np.uint8).data)


# ---------------------------------------------------------------------------------------
# .npz (NumPy's zip of .npy files), never with pickle
# ---------------------------------------------------------------------------------------

def load_npz(path, dtype=None):
    """Load a .npz file as dict name -> ndarray (``allow_pickle=False``: no code runs).

    dtype: if given, convert every floating-point array to it.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file (numpy_bert never unpickles): "
                         f"{e}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds a single .npy array, not an .npz archive of named arrays")
    with archive:
        tensors = {}
        for name in archive.files:
            try:
                tensors[name] = archive[name]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise ValueError(f"{path}: cannot read array {name!r} without pickle: "
                                 f"{e}") from None
    if dtype is not None:
        tensors = {k: v.astype(dtype, copy=False) if v.dtype.kind == "f" else v
                   for k, v in tensors.items()}
    return tensors


def save_npz(tensors, path):
    """Write tensors to a .npz file atomically (uncompressed, no pickle)."""
    tensors = _check_tensor_dict(tensors, "save_npz")
    with atomic_write(path, "wb") as f:
        np.savez(f, **tensors)


# ---------------------------------------------------------------------------------------
# HuggingFace parameter names and shapes
# ---------------------------------------------------------------------------------------

# Each architecture: whether its encoder has the pooler (HF builds BertModel(config,
# add_pooling_layer=False) for the heads on the sequence output), and its head's tensors.
# N is num_labels; the heads' outputs that are fixed are numbers: NSP and QA's (start,
# end) give 2, multiple choice scores each choice with 1.
_MLM = {"cls.predictions.bias": ("V",),                          # the decoder's bias
        "cls.predictions.transform.dense.weight": ("H", "H"),
        "cls.predictions.transform.dense.bias": ("H",),
        "cls.predictions.transform.LayerNorm.weight": ("H",),
        "cls.predictions.transform.LayerNorm.bias": ("H",)}
_NSP = {"cls.seq_relationship.weight": (2, "H"),                 # IsNext / NotNext
        "cls.seq_relationship.bias": (2,)}
HEADS = {
    "BertModel": (True, {}),
    "BertForPreTraining": (True, {**_MLM, **_NSP}),
    "BertForMaskedLM": (False, _MLM),
    "BertForNextSentencePrediction": (True, _NSP),
    "BertForSequenceClassification": (True, {"classifier.weight": ("N", "H"), "classifier.bias": ("N",)}),
    "BertForMultipleChoice": (True, {"classifier.weight": (1, "H"), "classifier.bias": (1,)}),
    "BertForTokenClassification": (False, {"classifier.weight": ("N", "H"), "classifier.bias": ("N",)}),
    "BertForQuestionAnswering": (False, {"qa_outputs.weight": (2, "H"), "qa_outputs.bias": (2,)}),
}
ARCHITECTURES = tuple(HEADS)


def _check_architecture(architecture):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, "
                         f"got {architecture!r}")


# The config field behind each dimension letter (the project's dimension key);
# P and S are the position and segment (token type) table sizes.
DIMENSIONS = {"V": "vocab_size", "H": "hidden_size", "I": "intermediate_size",
              "P": "max_position_embeddings", "S": "type_vocab_size", "N": "num_labels"}


def expected_shapes(config, architecture="BertForPreTraining"):
    """dict name -> shape of every parameter, in HF's ``named_parameters()`` order.

    BertModel names have no prefix ("embeddings.word_embeddings.weight"); in the other
    architectures the encoder lives under "bert." and the head beside it ("cls.*",
    "classifier.*", "qa_outputs.*"; see HEADS).
    The MLM decoder weight is the word embedding matrix (tied), so HF lists it once,
    as "bert.embeddings.word_embeddings.weight"; the decoder's bias is listed as
    "cls.predictions.bias". For bert-base-cased (vocab_size=28996) the shape of
    "bert.encoder.layer.0.intermediate.dense.weight" is (3072, 768): (I, H).
    """
    sizes = {letter: getattr(config, field) for letter, field in DIMENSIONS.items()}
    return {name: tuple(sizes.get(d, d) for d in dims)
            for name, dims in parameter_layout(config.num_hidden_layers, architecture).items()}


def parameter_layout(num_hidden_layers, architecture="BertForPreTraining"):
    """dict name -> shape in dimension letters, e.g. ("I", "H"), in HF's order.

    Weight matrices are in HF's (out, in) layout: a linear layer computes x @ W.T + b.
    """
    _check_architecture(architecture)
    V, H, I, P, S = "V", "H", "I", "P", "S"
    prefix = encoder_prefix(architecture)
    has_pooler, head = HEADS[architecture]

    shapes = {
        "embeddings.word_embeddings.weight": (V, H),
        "embeddings.position_embeddings.weight": (P, H),
        "embeddings.token_type_embeddings.weight": (S, H),
        "embeddings.LayerNorm.weight": (H,),
        "embeddings.LayerNorm.bias": (H,),
    }
    for i in range(num_hidden_layers):
        layer = f"encoder.layer.{i}."
        shapes.update({
            layer + "attention.self.query.weight": (H, H),
            layer + "attention.self.query.bias": (H,),
            layer + "attention.self.key.weight": (H, H),
            layer + "attention.self.key.bias": (H,),
            layer + "attention.self.value.weight": (H, H),
            layer + "attention.self.value.bias": (H,),
            layer + "attention.output.dense.weight": (H, H),
            layer + "attention.output.dense.bias": (H,),
            layer + "attention.output.LayerNorm.weight": (H,),
            layer + "attention.output.LayerNorm.bias": (H,),
            layer + "intermediate.dense.weight": (I, H),
            layer + "intermediate.dense.bias": (I,),
            layer + "output.dense.weight": (H, I),
            layer + "output.dense.bias": (H,),
            layer + "output.LayerNorm.weight": (H,),
            layer + "output.LayerNorm.bias": (H,),
        })
    if has_pooler:
        shapes["pooler.dense.weight"] = (H, H)
        shapes["pooler.dense.bias"] = (H,)
    shapes = {prefix + name: shape for name, shape in shapes.items()}
    shapes.update(head)
    return shapes


def encoder_prefix(architecture):
    """"" for BertModel, "bert." for the models with a head (HF's base_model_prefix)."""
    return "" if architecture == "BertModel" else "bert."


def is_head(name):
    """True for a tensor a checkpoint may lack and from_pretrained then initialises: a
    head's, or the pooler's (the heads on the sequence output have none)."""
    return not name.removeprefix("bert.").startswith(("embeddings.", "encoder."))


# Buffers that some checkpoints carry but that are not parameters.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
_DECODER_WEIGHT = "cls.predictions.decoder.weight"
_DECODER_BIAS = "cls.predictions.decoder.bias"
_ENCODER_PARTS = ("embeddings.", "encoder.", "pooler.")
_HEAD_PARTS = ("cls.", "classifier.", "qa_outputs.")


def _find_checkpoint_file(path):
    """A model directory -> its weights file; a file -> itself."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in ("model.safetensors", "model.npz"):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        if os.path.exists(os.path.join(path, "pytorch_model.bin")):
            raise ValueError(f"{path} holds only pytorch_model.bin, a pickle file numpy_bert "
                             f"will not read; convert it to model.safetensors (e.g. load it in "
                             f"transformers and call save_pretrained)")
        raise FileNotFoundError(f"no model.safetensors or model.npz in {path}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return path


def read_checkpoint(path, dtype=None, writable=False):
    """Read a .safetensors or .npz file (or a model directory) as a raw dict of arrays."""
    file = _find_checkpoint_file(path)
    if file.endswith(".npz"):
        return load_npz(file, dtype=dtype)
    if file.endswith(".bin") or file.endswith(".pt") or file.endswith(".pth"):
        raise ValueError(f"{file} is a PyTorch pickle file, which numpy_bert will not read; "
                         f"convert it to .safetensors")
    return load_safetensors(file, dtype=dtype, writable=writable)


def _untie(tensors, source):
    """Fold the tied MLM decoder tensors into the parameters they share (in place).

    BERT's decoder weight *is* the word embedding matrix and its bias *is*
    cls.predictions.bias, so HF's named_parameters() lists each once. Older
    checkpoints also store "cls.predictions.decoder.weight" / ".bias": each copy must
    equal the parameter it shares, or stands in for it when that one is absent.
    Names here have no "bert." prefix. Returns the names dropped.
    """
    dropped = []
    for copy, shared in ((_DECODER_WEIGHT, "embeddings.word_embeddings.weight"),
                         (_DECODER_BIAS, "cls.predictions.bias")):
        if copy not in tensors:
            continue
        value = tensors.pop(copy)
        if shared not in tensors:
            tensors[shared] = value
            continue
        if not (np.shape(value) == np.shape(tensors[shared])
                and np.array_equal(value, tensors[shared])):
            raise ValueError(
                f"{source}: {copy} differs from {shared}; numpy_bert's MLM decoder is tied "
                f"to them (as in BERT), so an untied decoder cannot be loaded")
        dropped.append(copy)
    return dropped


def _normalize_names(tensors, architecture, source):
    """Map a checkpoint's names onto HF's named_parameters() names for ``architecture``.

    Returns (params, ignored, original): ``ignored`` lists names deliberately dropped
    (buffers, the tied decoder weight after checking it), ``original`` maps each name in
    params to the checkpoint's name for it.
    """
    renamed = {}
    for name, array in tensors.items():
        new = name
        # Legacy TF-converted checkpoints call LayerNorm's weight/bias gamma/beta.
        if new.endswith("LayerNorm.gamma"):
            new = new[: -len("gamma")] + "weight"
        elif new.endswith("LayerNorm.beta"):
            new = new[: -len("beta")] + "bias"
        # Encoder names with or without the "bert." prefix -> without, for now.
        if new.startswith("bert."):
            new = new[len("bert."):]
        if new in renamed:
            raise ValueError(f"{source}: tensor {new!r} appears twice (as {renamed[new][0]!r} "
                             f"and {name!r}); which one to use is ambiguous")
        renamed[new] = (name, array)

    tensors = {new: array for new, (name, array) in renamed.items()}
    ignored = _untie(tensors, source)

    params, originals = {}, {}
    for new, array in tensors.items():
        original = renamed[new][0] if new in renamed else new
        if new in _BUFFERS:
            ignored.append(original)
            continue
        if new.startswith(_ENCODER_PARTS):
            new = encoder_prefix(architecture) + new
        params[new] = array  # an encoder's, a head's ("cls.*", "classifier.*", ...) or not BERT's
        originals[new] = original
    return params, ignored, originals


def _format_names(names, limit=8):
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def check_state_dict(params, config, architecture="BertForPreTraining", source="checkpoint"):
    """Raise ValueError unless ``params`` has exactly the expected names and shapes."""
    expected = expected_shapes(config, architecture)
    missing = [k for k in expected if k not in params]
    unexpected = [k for k in params if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {_format_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s): {_format_names(unexpected)}")
        hint = ""
        if missing and all(k.startswith("cls.") for k in missing):
            hint = (" (this looks like a checkpoint without pre-training heads: load it "
                    "with architecture='BertModel')")
        raise ValueError(f"{source} does not match {architecture} for this config: "
                         + "; ".join(parts) + hint)
    wrong = [(k, tuple(np.shape(params[k])), shape) for k, shape in expected.items()
             if tuple(np.shape(params[k])) != shape]
    if wrong:
        raise ValueError(_shape_message(wrong, config, architecture, source)
                         + " Is config.json the one that belongs to these weights?")


def _shape_message(wrong, config, architecture, source):
    """wrong: [(name, checkpoint shape, expected shape)] -> what disagrees, and with which field."""
    layout = parameter_layout(config.num_hidden_layers, architecture)

    def explain(name, want):  # which config fields fix this shape
        fields = dict.fromkeys(f"{DIMENSIONS[d]}={n}" for d, n in zip(layout[name], want)
                               if d in DIMENSIONS)
        return f" ({', '.join(fields)})" if fields else ""

    details = "; ".join(f"{k} has shape {got} but the config expects {want}{explain(k, want)}"
                        for k, got, want in wrong[:8])
    more = f" (and {len(wrong) - 8} more)" if len(wrong) > 8 else ""
    return f"{source}: {len(wrong)} tensor(s) disagree with the config: {details}{more}."


def _read_tensors(path_or_dir):
    """(dict name -> array, source name for messages) from a path or an in-memory dict."""
    if isinstance(path_or_dir, Mapping):
        return dict(path_or_dir), "state dict"
    source = os.fspath(path_or_dir)
    return read_checkpoint(source, writable=True), source


def _check_float_dtype(dtype, what):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{what}: dtype must be a floating-point type such as "
                        f"np.float32 or np.float64, got {dtype}")
    return dtype


def _as_parameter(array, name, dtype, source):
    array = np.asarray(array)
    if array.dtype.kind != "f":
        raise ValueError(f"{source}: tensor {name!r} has dtype {array.dtype}; parameters "
                         f"must be floating point")
    return array.astype(dtype, copy=False)


def load_state_dict(path_or_dir, config, architecture="BertForPreTraining", dtype=np.float32):
    """Load a checkpoint as a params dict with exactly ``expected_shapes`` names, in order.

    path_or_dir:  a model directory (model.safetensors or model.npz), a .safetensors or
                  .npz file, or a dict name -> ndarray already in memory
    architecture: one of ARCHITECTURES: "BertForPreTraining" (keys "bert.*" and "cls.*"),
                  "BertForSequenceClassification" ("bert.*", "classifier.*"), ..., or
                  "BertModel" (no prefix; the checkpoint's heads are ignored)
    dtype:        floating dtype of the returned arrays (np.float32 or np.float64)

    Accepts the variants found in real checkpoints: names with or without "bert.",
    legacy LayerNorm "gamma"/"beta", the tied decoder weight present (checked equal to
    the word embeddings) or absent, "cls.predictions.decoder.bias", and the
    "embeddings.position_ids" buffer. Raises ValueError naming the missing, unexpected
    or wrongly shaped tensors. Arrays from safetensors files are copy-on-write memory
    maps: writable, and writes never reach the file.
    """
    _check_architecture(architecture)
    dtype = _check_float_dtype(dtype, "load_state_dict")
    tensors, source = _read_tensors(path_or_dir)
    params, _, _ = _normalize_names(tensors, architecture, source)
    if architecture == "BertModel":   # BertModel has no head: the checkpoint's are ignored
        params = {name: array for name, array in params.items() if not name.startswith(_HEAD_PARTS)}
    check_state_dict(params, config, architecture, source)
    return {name: _as_parameter(params[name], name, dtype, source)
            for name in expected_shapes(config, architecture)}


def load_pretrained(path_or_dir, config, architecture, dtype=np.float32, ignore_mismatched_sizes=False):
    """Load what a checkpoint has of ``architecture``, as transformers' from_pretrained does.

    Returns ``(params, loading_info)``: ``params`` holds the expected tensors that the
    checkpoint has with the expected shape, in ``expected_shapes`` order, and
    ``loading_info`` is transformers' dict::

        {"missing_keys": [names the checkpoint lacks: the new head, to be initialised],
         "unexpected_keys": [the checkpoint's tensors this architecture has no place for,
                             under the checkpoint's names],
         "mismatched_keys": [(name, checkpoint shape, expected shape), ...]}

    The encoder (embeddings and layers) must be complete and of the config's shapes, or a
    ValueError names what is wrong. A head or pooler tensor (``is_head``) may be missing
    (a BertModel checkpoint has no classifier) and is then listed in missing_keys. One whose
    shape differs (a classifier trained with another num_labels) raises a ValueError that
    points to ``ignore_mismatched_sizes=True``; with it, the tensor is listed in
    mismatched_keys and left out of ``params`` (so it is initialised anew).
    """
    _check_architecture(architecture)
    dtype = _check_float_dtype(dtype, "load_pretrained")
    tensors, source = _read_tensors(path_or_dir)
    found, _, original = _normalize_names(tensors, architecture, source)
    expected = expected_shapes(config, architecture)
    missing = [name for name in expected if name not in found]
    unexpected = [original[name] for name in found if name not in expected]
    encoder_missing = [name for name in missing if not is_head(name)]
    if encoder_missing:
        raise ValueError(f"{source} does not hold a BERT encoder for this config: missing "
                         f"{len(encoder_missing)} tensor(s): {_format_names(encoder_missing)}"
                         + (f"; it has {_format_names(unexpected, 4)}" if unexpected else ""))
    wrong = [(name, tuple(np.shape(found[name])), shape) for name, shape in expected.items()
             if name in found and tuple(np.shape(found[name])) != shape]
    encoder_wrong = [w for w in wrong if not is_head(w[0])]
    if encoder_wrong:
        raise ValueError(_shape_message(encoder_wrong, config, architecture, source)
                         + " Is config.json the one that belongs to these weights?")
    if wrong and not ignore_mismatched_sizes:
        raise ValueError(_shape_message(wrong, config, architecture, source)
                         + " The checkpoint's head was trained for another task or number of "
                         "labels: pass ignore_mismatched_sizes=True (numpy-bert: "
                         "--ignore-mismatched-sizes) to initialise a new head instead, as "
                         "transformers does")
    mismatched = {name for name, _, _ in wrong}
    params = {name: _as_parameter(found[name], name, dtype, source)
              for name in expected if name in found and name not in mismatched}
    info = {"missing_keys": missing, "unexpected_keys": unexpected, "mismatched_keys": wrong}
    return params, info


def save_state_dict(params, path, metadata=None):
    """Write params as a model.safetensors that transformers loads as is.

    ``path`` may be a directory (writes ``<path>/model.safetensors``), a .safetensors
    file, or a .npz file. The tied decoder weight is not written: like transformers 5's
    own save_pretrained, the file holds only ``cls.predictions.bias``, and
    ``BertForPreTraining.from_pretrained`` re-ties the decoder to the word embeddings.
    ``__metadata__`` gets {"format": "pt"}, which transformers requires.
    """
    params = _check_tensor_dict(params, "save_state_dict")
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "model.safetensors")
    if path.endswith(".npz"):
        save_npz(params, path)
        return
    meta = {"format": "pt"}
    if metadata:
        meta.update(metadata)
    save_safetensors(params, path, metadata=meta)
