"""Fig. 1: the Markov blanket of a node x, drawn by code (Bishop 8.9)."""

from __future__ import annotations

from typing import Any

import numpy as np

from prml_pipeline.figures.style import PAGE_WIDTH, PathLike, pyplot, save_figure, styled

SHOWS = "the Markov blanket of a node x: parents, children and co-parents (Bishop 8.9)"


def spec(ctx: Any) -> dict[str, Any]:
    return {"inputs": {}, "plot": {}}


# Node positions, labels and kinds of the Markov-blanket DAG; "C" nodes form the blanket of x.
_DAG_NODES: dict[str, tuple[float, float, str, str]] = {
    "x": (2.0, 2.0, "$x$", "A"),
    "C1": (1.0, 3.0, "$C_1$", "C"),
    "C2": (4.0, 3.0, "$C_2$", "C"),
    "C3": (3.0, 1.0, "$C_3$", "C"),
    "Ba": (1.0, 4.0, "$B_a$", "B"),
    "Bb": (0.0, 2.0, "$B_b$", "B"),
    "Bc": (4.0, 4.0, "$B_c$", "B"),
    "Bd": (5.0, 2.0, "$B_d$", "B"),
    "Be": (3.0, 0.0, "$B_e$", "B"),
}
# Role of each node relative to x and the side it is written on (kept clear of the arrows);
# (a)-(e) follow the 8.9 answer.
_DAG_ROLES: dict[str, tuple[str, str]] = {
    "C1": ("parent", "left"),
    "C2": ("co-parent", "right"),
    "C3": ("child", "right"),
    "Ba": ("(a) parent of parent", "right"),
    "Bb": ("(b) child of parent", "below"),
    "Bc": ("(c) parent of co-parent", "right"),
    "Bd": ("(d) child of co-parent", "below"),
    "Be": ("(e) child of child", "right"),
}
_DAG_EDGES = [
    ("Ba", "C1"), ("C1", "x"), ("C1", "Bb"), ("Bc", "C2"),
    ("C2", "C3"), ("x", "C3"), ("C2", "Bd"), ("C3", "Be"),
]
_NODE_RADIUS = 0.32
_NODE_FACE = {"A": "#f4a582", "C": "#9fb7d6", "B": "white"}


def _draw_nodes(ax: Any) -> None:
    from matplotlib.patches import Circle, FancyArrowPatch

    for src, dst in _DAG_EDGES:
        start, end = np.array(_DAG_NODES[src][:2]), np.array(_DAG_NODES[dst][:2])
        unit = (end - start) / np.linalg.norm(end - start)
        # Arrows run circle edge to circle edge, so heads are not hidden under nodes.
        ax.add_patch(FancyArrowPatch(
            tuple(start + unit * _NODE_RADIUS), tuple(end - unit * _NODE_RADIUS),
            arrowstyle="-|>", mutation_scale=12, linewidth=1.1, color="#333333",
        ))
    for name, (cx, cy, label, kind) in _DAG_NODES.items():
        ax.add_patch(Circle((cx, cy), _NODE_RADIUS, facecolor=_NODE_FACE[kind],
                            edgecolor="black", linewidth=2.0 if kind == "A" else 1.2))
        ax.text(cx, cy, label, ha="center", va="center", fontsize=10)
        if name in _DAG_ROLES:
            role, side = _DAG_ROLES[name]
            gap = _NODE_RADIUS + 0.08
            tx, ty, ha, va = {"left": (cx - gap, cy, "right", "center"),
                              "right": (cx + gap, cy, "left", "center"),
                              "below": (cx, cy - gap, "center", "top")}[side]
            ax.text(tx, ty, role, ha=ha, va=va, fontsize=7, color="#444444")


@styled
def plot_markov_blanket(path: PathLike, dpi: int) -> None:
    """Fig. 1: x, its Markov blanket C (parents, children, co-parents) and other nodes B.

    Conditioned on C, x is independent of every B node (Bishop 8.9): each path from a B node
    to x passes a head-tail or tail-tail link at an observed C node.
    """
    from matplotlib.patches import Patch

    fig, ax = pyplot().subplots(figsize=(0.8 * PAGE_WIDTH, 0.64 * PAGE_WIDTH))
    _draw_nodes(ax)
    fig.legend(
        handles=[
            Patch(facecolor=_NODE_FACE["A"], edgecolor="black", label="A: node $x$"),
            Patch(facecolor=_NODE_FACE["C"], edgecolor="black",
                  label="C: Markov blanket of $x$ (shaded, observed)"),
            Patch(facecolor=_NODE_FACE["B"], edgecolor="black",
                  label="B: all other nodes (unshaded)"),
        ],
        loc="outside lower center", ncols=2,
    )
    ax.set_xlim(-0.9, 6.3)
    ax.set_ylim(-0.4, 4.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(r"Markov blanket: $x \perp B \mid C$", fontsize=9)
    save_figure(fig, path, dpi)


def draw(inputs: Any, settings: dict[str, Any], path: PathLike) -> None:
    plot_markov_blanket(path, dpi=settings["dpi"])
