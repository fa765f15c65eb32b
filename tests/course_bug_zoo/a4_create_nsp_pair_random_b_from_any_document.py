"""The random B is drawn from every document, A's own included."""

EXERCISE = "a4.create_nsp_pair"
EXPECTED = "a NotNext B came from A's own document"


def create_nsp_pair(documents, doc_index, sentence_index, rng, cls_token_id, sep_token_id):
    tokens_a = np.asarray(documents[doc_index][sentence_index])
    if rng.random() < 0.5:
        tokens_b, label = documents[doc_index][sentence_index + 1], 0
    else:
        other = int(rng.integers(len(documents)))           # may be doc_index itself
        tokens_b, label = documents[other][int(rng.integers(len(documents[other])))], 1
    input_ids = np.concatenate([[cls_token_id], tokens_a, [sep_token_id], tokens_b, [sep_token_id]]).astype(np.int64)
    token_type_ids = np.zeros(len(input_ids), dtype=np.int64)
    token_type_ids[len(tokens_a) + 2:] = 1
    return input_ids, token_type_ids, label
