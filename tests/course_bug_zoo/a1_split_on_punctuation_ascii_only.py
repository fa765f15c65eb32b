"""Splitting on string.punctuation only: Unicode punctuation such as the inverted question mark stays."""

EXERCISE = "a1.split_on_punctuation"
EXPECTED = "Unicode punctuation (category P*"

import string  # noqa: E402


def split_on_punctuation(word):
    words, current = [], ""
    for char in word:
        if char in string.punctuation:
            if current:
                words.append(current)
            words.append(char)
            current = ""
        else:
            current += char
    return words + ([current] if current else [])
