"""arcee-ai/DALM's retriever evaluation (dalm/eval/utils.py and eval_retriever_only.py at commit
8e79ac3), transcribed on plain lists of (query, passage) rows with given vectors: the reference
the protocol: dalm tests check the harness against. Kept as close to DALM's code as lists allow."""
from __future__ import annotations

import numpy as np


def dalm_filter_unique_passages(passages: list[str]) -> list[str]:
    """filter_unique_passages: keep a row when its passage is still in the set, then discard it."""
    unique = set(passages)
    kept = []
    for p in passages:
        if p in unique:
            kept.append(p)
        unique.discard(p)
    return kept


def dalm_evaluate(rows: list[tuple[str, str]], qvec: dict[str, np.ndarray], pvec: dict[str, np.ndarray],
                  top_k: int) -> dict[str, float]:
    """eval_retriever_only.evaluate_retriever over (query, passage) rows, with given vectors."""
    import hnswlib

    unique = dalm_filter_unique_passages([p for _, p in rows])
    id_to_passage = dict(enumerate(unique))
    data = np.stack([pvec[p] for p in unique])
    index = hnswlib.Index(space="ip", dim=data.shape[1])  # construct_search_index
    index.init_index(max_elements=len(unique), ef_construction=200, M=100)
    index.add_items(data, np.arange(len(unique)))
    index.set_ef(100)  # get_nearest_neighbours
    labels, distances = index.knn_query(np.stack([qvec[q] for q, _ in rows]), k=top_k)
    precisions, recalls, hits = [], [], 0
    for i, (_, correct) in enumerate(rows):
        retrieved = [id_to_passage[lab] for lab, dist in zip(labels[i], distances[i]) if (1 - dist) >= 0.0]
        both = len(set(retrieved) & {correct})  # calculate_precision_recall
        precisions.append(both / len(set(retrieved)))
        recalls.append(both / 1)
        hits += any(p in retrieved for p in [correct])
    n = len(rows)
    return {"precision": sum(precisions) / n, "recall": sum(recalls) / n, "hit_rate": hits / n}
