"""Learning a WordPiece vocabulary from text: what ``numpy-bert train-vocab`` runs.

    >>> from numpy_bert.tokenization import write_vocab
    >>> tokens = train_wordpiece(["corpus.txt"], vocab_size=8000)   # list of tokens, id = index
    >>> write_vocab(tokens, "vocab.txt")

How the vocabulary is learned, as the code below stands: pre-tokenize the text with
the same ``BasicTokenizer`` the model will use and count the words; spell each word in
characters, the first bare and the rest as ``##`` continuations ("running" -> r ##u
##n ##n ##i ##n ##g); then, again and again, merge the most frequent adjacent pair of
symbols into one new token ("##n" + "##g" -> "##ng") until the vocabulary is full.

That merge rule is BPE's (Sennrich et al.), not the likelihood score of the original
WordPiece (which picks the pair that most raises the likelihood of the training text,
in HuggingFace's course count(ab) / (count(a) count(b))). HuggingFace's
``WordPieceTrainer`` does the same: it is its BPE trainer with a ``##`` prefix. Only
the learning is BPE-like; the tokenizer that uses the vocabulary
(``numpy_bert.tokenization.WordpieceTokenizer``) does not replay the merges but splits
each word greedily, longest match first, so a word may come out split differently
from the merges that built its pieces.
"""

import collections
import heapq
import os

from numpy_bert.tokenization import SPECIAL_TOKENS, BasicTokenizer, _is_int

__all__ = ["count_words", "train_wordpiece"]


def _read_texts(files_or_texts):
    """Yield lines from file paths (str / Path naming an existing file) or from text strings."""
    if isinstance(files_or_texts, (str, os.PathLike)):
        files_or_texts = [files_or_texts]
    for item in files_or_texts:
        if isinstance(item, os.PathLike) or (isinstance(item, str) and "\n" not in item and os.path.isfile(item)):
            path = os.fspath(item)
            opener = open
            if path.endswith(".gz"):
                import gzip

                opener = gzip.open
            with opener(path, "rt", encoding="utf-8") as f:
                try:
                    yield from f
                except UnicodeDecodeError as e:  # as pretrain's corpus: binary or another encoding is refused
                    raise ValueError(f"training file {path!r} is not UTF-8 text ({e.reason}); convert it to "
                                     f"UTF-8 (a binary file cannot be learnt from)") from None
        elif isinstance(item, str):
            yield from item.splitlines()
        else:
            raise TypeError(f"train_wordpiece takes file paths or text strings, got {type(item).__name__}")


def count_words(files_or_texts, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                max_input_chars_per_word=100):
    """Pre-tokenize the training text exactly as the tokenizer will -> Counter word -> count."""
    basic = BasicTokenizer(do_lower_case, never_split=SPECIAL_TOKENS, tokenize_chinese_chars=tokenize_chinese_chars,
                           strip_accents=strip_accents)
    chunks = collections.Counter()
    for line in _read_texts(files_or_texts):
        chunks.update(basic._chunk_re.findall(line))
    words = collections.Counter()
    for chunk, count in chunks.items():
        if chunk in SPECIAL_TOKENS:
            continue
        for word, _ in basic.split_chunk(chunk):
            if len(word) <= max_input_chars_per_word:
                words[word] += count
    return words


def train_wordpiece(files_or_texts, vocab_size=8000, do_lower_case=True, strip_accents=None,
                    tokenize_chinese_chars=True, min_frequency=2, limit_alphabet=1000,
                    special_tokens=None, progress=None):
    """Learn a WordPiece vocabulary of ``vocab_size`` tokens -> list of tokens (id = index).

    The algorithm is the one HuggingFace's ``WordPieceTrainer`` uses (BPE merges
    with a ``##`` continuation prefix):

    1. Pre-tokenize the text with the same BasicTokenizer the model will use and
       count the words: {"the": 5210, "running": 40, ...}.
    2. Spell every word in characters, the first bare and the rest with ``##``:
       "running" -> r ##u ##n ##n ##i ##n ##g. The vocab starts as the special tokens
       ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, as transformers numbers them)
       plus these characters (the ``limit_alphabet`` most frequent; rarer characters
       will be [UNK]).
    3. Repeatedly merge the most frequent adjacent pair (ties: the pair that sorts
       first) into one symbol, "##n" + "##g" -> "##ng", add it to the vocab and
       update the counts of the neighbouring pairs, until the vocab is full or no
       pair occurs ``min_frequency`` times.

    ``files_or_texts``: paths of text files (UTF-8, .gz allowed) or strings of text.
    The result loads in numpy_bert's and in transformers' BertTokenizer alike;
    write it with ``write_vocab(tokens, "vocab.txt")``.
    """
    special_tokens = list(SPECIAL_TOKENS if special_tokens is None else special_tokens)
    if not _is_int(vocab_size) or vocab_size <= len(special_tokens):
        raise ValueError(f"vocab_size must be an int larger than the {len(special_tokens)} special tokens, "
                         f"got {vocab_size!r}")
    words = count_words(files_or_texts, do_lower_case, strip_accents, tokenize_chinese_chars)
    if not words:
        raise ValueError("no words in the training text: pass text files or strings with some text in them")
    if progress:
        progress(f"{len(words)} distinct words, {sum(words.values())} in all")

    # 2. the alphabet: characters by frequency, in both word-initial and continuation form
    char_counts = collections.Counter()
    for word, count in words.items():
        for c in word:
            char_counts[c] += count
    alphabet = {c for c, _ in char_counts.most_common(limit_alphabet)}
    vocab = list(special_tokens)
    in_vocab = set(vocab)
    symbols_seen = collections.Counter()
    word_list, counts, spelled = [], [], []
    for word, count in words.items():
        symbols = [c if i == 0 else "##" + c for i, c in enumerate(word)]
        if any(c not in alphabet for c in word):
            continue  # a word with an [UNK] character can never be split: it would be [UNK] anyway
        for s in symbols:
            symbols_seen[s] += count
        word_list.append(word)
        counts.append(count)
        spelled.append(symbols)
    for symbol in sorted(symbols_seen):
        if symbol not in in_vocab and len(vocab) < vocab_size:
            vocab.append(symbol)
            in_vocab.add(symbol)

    # 3. merges: pair counts, which words hold each pair, and a max-heap with lazy deletion
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    for index, (symbols, count) in enumerate(zip(spelled, counts)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -negative:  # stale entry: push the current count back if still there
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        if count < min_frequency:
            break
        a, b = pair
        merged = a + b[2:]  # b is always a "##" continuation
        if merged not in in_vocab:
            vocab.append(merged)
            in_vocab.add(merged)
        changed = collections.Counter()
        for index in where.pop(pair, ()):
            symbols, word_count = spelled[index], counts[index]
            i, new = 0, []
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    new.append(merged)
                    i += 2
                else:
                    new.append(symbols[i])
                    i += 1
            for old_pair in zip(symbols, symbols[1:]):
                changed[old_pair] -= word_count
            for new_pair in zip(new, new[1:]):
                changed[new_pair] += word_count
                where[new_pair].add(index)
            spelled[index] = new
        for p, delta in changed.items():
            if delta:
                pair_counts[p] += delta
                if pair_counts[p] <= 0:
                    del pair_counts[p]
                elif delta > 0:
                    heapq.heappush(heap, (-pair_counts[p], p))
        pair_counts.pop(pair, None)
        if progress and len(vocab) % 1000 == 0:
            progress(f"{len(vocab)} tokens")
    return vocab
