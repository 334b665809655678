"""The package dependency picture, computed from the imports: ``docs/dependencies.svg``.

    python scripts/dependencies.py            # rewrite docs/dependencies.svg; exit 1 on an upward import
    python scripts/dependencies.py --check    # only check: layering holds and the committed picture is current

Every ``import`` / ``from ... import`` in ``tfseqrec/`` and ``beam_pipelines/`` counts, also those inside
functions (a lazy import is still a dependency). Modules are grouped into the layers of :data:`LAYERS`, lowest
first; a module may import its own layer and the layers below it. An import of a higher layer is an upward
arrow: it is printed and the command fails. The picture draws the layers as rows, highest on top, and one arrow
per pair of layers that import each other, so every arrow must point down.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "dependencies.svg"
PACKAGES = ("tfseqrec", "beam_pipelines")

# (layer, what it holds); lowest first. Each module belongs to the first layer whose prefix it starts with.
LAYERS: tuple[tuple[str, str], ...] = (
    ("core", "tfseqrec (ids, checks, io_utils, host)"),
    ("data", "tfseqrec.data, tfseqrec.synthetic"),
    ("beam_pipelines", "beam_pipelines"),
    ("tasks", "tfseqrec.tasks"),
    ("models", "tfseqrec.models"),
    ("evaluation", "tfseqrec.evaluation"),
    ("training", "tfseqrec.training"),
    ("export", "tfseqrec.export"),
    ("serving", "tfseqrec.serving"),
    ("tuning", "tfseqrec.tuning"),
    ("benchmark", "tfseqrec.benchmark"),
    ("cli", "tfseqrec.cli"),
)
PREFIXES = {
    "data": ("tfseqrec.data", "tfseqrec.synthetic"),
    "beam_pipelines": ("beam_pipelines",),
    "tasks": ("tfseqrec.tasks",),
    "models": ("tfseqrec.models",),
    "evaluation": ("tfseqrec.evaluation",),
    "training": ("tfseqrec.training",),
    "export": ("tfseqrec.export",),
    "serving": ("tfseqrec.serving",),
    "tuning": ("tfseqrec.tuning",),
    "benchmark": ("tfseqrec.benchmark",),
    "cli": ("tfseqrec.cli",),
    "core": ("tfseqrec",),
}
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, or None for a module outside our packages."""
    for name in sorted(PREFIXES, key=lambda n: -max(len(p) for p in PREFIXES[n])):
        if any(module == p or module.startswith(p + ".") for p in PREFIXES[name]):
            return name
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import of ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found += [
                (f"{base}.{alias.name}" if layer_of(f"{base}.{alias.name}") else base, node.lineno)
                for alias in node.names
            ]
    return found


def layer_edges() -> tuple[dict[tuple[str, str], int], list[str]]:
    """``{(importer layer, imported layer): number of imports}`` and the upward imports as messages."""
    edges: dict[tuple[str, str], int] = {}
    upward = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            source = layer_of(module_name(path))
            for target_module, line in imported_modules(path):
                target = layer_of(target_module)
                if target is None or target == source:
                    continue
                edges[(source, target)] = edges.get((source, target), 0) + 1
                if RANK[target] > RANK[source]:
                    upward.append(
                        f"{path.relative_to(REPO)}:{line}: {source} imports {target_module} ({target}, a higher layer)"
                    )
    return edges, upward


def render_svg(edges: dict[tuple[str, str], int]) -> str:
    """Layers as rows, highest on top. Adjacent layers: a short arrow in the gap between their boxes; longer
    imports: a line from the importer's right edge out to its own lane, down, and into the imported layer."""
    box_w, box_h, gap_y, margin, lane_gap = 430, 30, 16, 16, 9
    rows = list(reversed(LAYERS))
    top = {name: margin + i * (box_h + gap_y) for i, (name, _) in enumerate(rows)}
    adjacent = sorted(e for e in edges if abs(RANK[e[0]] - RANK[e[1]]) == 1)
    long = sorted(
        (e for e in edges if abs(RANK[e[0]] - RANK[e[1]]) > 1),
        key=lambda e: (abs(RANK[e[0]] - RANK[e[1]]), -RANK[e[0]]),
    )
    right = margin + box_w
    width = right + margin + lane_gap * (len(long) + 1)
    height = 2 * margin + len(rows) * box_h + (len(rows) - 1) * gap_y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        '<defs><marker id="head" markerWidth="7" markerHeight="7" refX="6" refY="3.5" orient="auto">'
        '<path d="M0,0 L7,3.5 L0,7 z" fill="#555"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for name, text in rows:
        out.append(
            f'<rect x="{margin}" y="{top[name]}" width="{box_w}" height="{box_h}" rx="5" fill="#eef3fb" '
            f'stroke="#4a6fa5"/>'
        )
        out.append(
            f'<text x="{margin + 10}" y="{top[name] + 20}"><tspan font-weight="bold">{escape(name)}</tspan>'
            f'<tspan x="{margin + 150}" fill="#444">{escape(text)}</tspan></text>'
        )

    def line(points, source, target, upward):
        path = " ".join(f"{x},{y}" for x, y in points)
        color = "red" if upward else "#555"
        return (
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.3" '
            f'marker-end="url(#head)"><title>{source} imports {target} ({edges[(source, target)]} imports)'
            f"</title></polyline>"
        )

    for i, (source, target) in enumerate(adjacent):
        x = margin + 20 + 14 * (i % 6) if RANK[source] > RANK[target] else margin + box_w - 20
        upward = RANK[target] > RANK[source]
        y1, y2 = (top[source], top[target] + box_h) if upward else (top[source] + box_h, top[target])
        out.append(line([(x, y1), (x, y2 - (-2 if upward else 2))], source, target, upward))
    for lane, (source, target) in enumerate(long):
        x = right + lane_gap * (lane + 1)
        upward = RANK[target] > RANK[source]
        y1 = top[source] + box_h // 2 - 4 + (lane % 3) * 4
        y2 = top[target] + box_h // 2 - 4 + (lane % 3) * 4
        out.append(line([(right, y1), (x, y1), (x, y2), (right + 2, y2)], source, target, upward))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; fail if the picture is out of date")
    args = parser.parse_args(argv)
    edges, upward = layer_edges()
    svg = render_svg(edges)
    status = 0
    for line in upward:
        print(line, file=sys.stderr)
        status = 1
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != svg:
            print(f"{OUTPUT.relative_to(REPO)} is out of date: run python scripts/dependencies.py", file=sys.stderr)
            status = 1
    else:
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text(svg)
        print(f"{len(edges)} layer dependencies, {len(upward)} upward -> {OUTPUT.relative_to(REPO)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
