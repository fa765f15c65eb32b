"""WordPiece that takes the shortest matching piece first instead of the longest."""

EXERCISE = "a1.wordpiece_tokenize"
EXPECTED = "take the longest matching prefix first"


def wordpiece_tokenize(word, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        for end in range(start + 1, len(word) + 1):
            candidate = word[start:end] if start == 0 else "##" + word[start:end]
            if candidate in vocab:
                break
        else:
            return [unk_token]
        pieces.append(candidate)
        start = end
    return pieces
