"""IsNext labelled 1 and NotNext 0: the opposite of HuggingFace's convention."""

EXERCISE = "a4.create_nsp_pair"
EXPECTED = "the convention (HuggingFace's) is 0 = IsNext, 1 = NotNext"


def create_nsp_pair(documents, doc_index, sentence_index, rng, cls_token_id, sep_token_id):
    tokens_a = np.asarray(documents[doc_index][sentence_index])
    if rng.random() < 0.5:
        tokens_b, label = documents[doc_index][sentence_index + 1], 1     # IsNext is 0
    else:
        other = int(rng.integers(len(documents) - 1))
        other += other >= doc_index
        tokens_b, label = documents[other][int(rng.integers(len(documents[other])))], 0
    input_ids = np.concatenate([[cls_token_id], tokens_a, [sep_token_id], tokens_b, [sep_token_id]]).astype(np.int64)
    token_type_ids = np.zeros(len(input_ids), dtype=np.int64)
    token_type_ids[len(tokens_a) + 2:] = 1
    return input_ids, token_type_ids, label
