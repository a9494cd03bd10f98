"""How well classes separate in a latent space: leave-one-out nearest-neighbour accuracy.

Each test point is given the label of its nearest other test point (Euclidean distance in
the latent space); a class is well separated when its points' nearest neighbours share their
label. The measure needs no fitted classifier and reads directly as what a scatter plot of
the latent means shows.
"""

from __future__ import annotations

import numpy as np

# Rows of the distance matrix computed at once (rows x n float64: 2000 x 10000 is 160 MB).
_ROWS = 2000


def nearest_neighbour_labels(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label of each point's nearest other point (ties: the lower index)."""
    points = np.asarray(points, dtype=float)
    labels = np.asarray(labels).ravel()
    if points.ndim != 2 or len(points) != len(labels):
        raise ValueError(f"need points (n, d) and n labels; got {points.shape} and "
                         f"{labels.shape}")
    if len(points) < 2:
        raise ValueError("nearest neighbours need at least two points")
    squared = np.einsum("ij,ij->i", points, points)
    found = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), _ROWS):
        block = points[start:start + _ROWS]
        distance = squared[start:start + _ROWS, None] + squared[None, :] - 2 * block @ points.T
        distance[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        found[start:start + _ROWS] = np.argmin(distance, axis=1)
    return labels[found]


def nearest_neighbour_accuracy(points: np.ndarray, labels: np.ndarray) -> dict[str, object]:
    """Leave-one-out 1-NN accuracy, overall and per class (keyed by label, in label order)."""
    labels = np.asarray(labels).ravel()
    correct = nearest_neighbour_labels(points, labels) == labels
    classes = np.unique(labels)
    return {"overall": float(correct.mean()),
            "per_class": {int(c): float(correct[labels == c].mean()) for c in classes},
            "n": int(len(labels))}
