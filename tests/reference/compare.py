"""Comparisons shared by the live reference tests."""

import numpy as np


def max_diff(a, b):
    """The largest absolute difference between two arrays (or tensors), in float64."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def pretraining_output_diffs(out, ref, real):
    """{output name: max_diff} between numpy_bert's BertForPreTraining outputs and HF's.

    ``out`` and ``ref`` were computed with output_hidden_states and output_attentions; ``real``
    (B, T) bool marks the tokens that are not padding (padded positions are not compared)."""
    diffs = {"prediction_logits": max_diff(out["prediction_logits"][real], ref.prediction_logits.detach()[real]),
             "seq_relationship_logits": max_diff(out["seq_relationship_logits"],
                                                 ref.seq_relationship_logits.detach())}
    for i, h in enumerate(ref.hidden_states):
        diffs[f"hidden_states[{i}]"] = max_diff(out["hidden_states"][i][real], h.detach()[real])
    for i, a in enumerate(ref.attentions):                     # (B, NH, T, T) -> (B, T, NH, T): by query
        diffs[f"attentions[{i}]"] = max_diff(out["attentions"][i].transpose(0, 2, 1, 3)[real],
                                             a.detach().numpy().transpose(0, 2, 1, 3)[real])
    return diffs
