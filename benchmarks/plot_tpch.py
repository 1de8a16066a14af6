"""Plot benchmarks/tpch.py's JSON as grouped bars of median seconds per query (an SVG, no plotting library).

    python benchmarks/tpch.py --scale 1 --json benchmarks/out/tpch_sf1.json
    python benchmarks/plot_tpch.py benchmarks/out/tpch_sf1.json docs/tpch.svg
"""
from __future__ import annotations

import json
import sys

COLORS = {"duckdb": "#f2c14e", "polars": "#5b8def", "w1": "#9bc995", "w2": "#2e7d32",
          "w1_work": "#cfe8d5", "w2_work": "#7fb77e", "cold": "#b0b0b0"}
LABELS = {"duckdb": "DuckDB", "polars": "Polars (lazy)", "w1": "Cylon W=1 job", "w2": "Cylon W=2 job",
          "w1_work": "W=1 workers' own time", "w2_work": "W=2 workers' own time",
          "cold": "Cylon W=2 job, cold workers"}


def svg(results: list[dict], title: str) -> str:
    series = [k for k in COLORS if all(k in r["median_s"] for r in results)]
    top = max(v for r in results for k, v in r["median_s"].items() if k in series)
    bar, gap, height, left, base = 9, 14, 260, 50, 300
    group = bar * len(series) + gap
    width = left + group * len(results) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{base + 80}" font-family="sans-serif" '
           'font-size="11">', f'<text x="{left}" y="16" font-size="13">{title}</text>']
    for tick in range(0, int(top) + 2):
        y = base - tick / top * height
        if y < 20:
            break
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick} s</text>')
    for i, r in enumerate(results):
        x0 = left + i * group
        for j, k in enumerate(series):
            h = r["median_s"][k] / top * height
            out.append(f'<rect x="{x0 + j * bar}" y="{base - h:.1f}" width="{bar - 1}" height="{h:.1f}" '
                       f'fill="{COLORS[k]}"><title>{LABELS[k]}: {r["median_s"][k]:.3f} s</title></rect>')
        out.append(f'<text x="{x0 + bar * len(series) / 2}" y="{base + 14}" text-anchor="middle">{r["query"]}</text>')
    for j, k in enumerate(series):
        x = left + (j % 3) * 190
        y = base + 34 + (j // 3) * 16
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{COLORS[k]}"/>'
                   f'<text x="{x + 14}" y="{y}">{LABELS[k]}</text>')
    out.append("</svg>")
    return "\n".join(out)


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        results = json.load(f)
    with open(dst, "w") as f:
        f.write(svg(results, "TPC-H SF 1 on 2 cores: median seconds per query (submit to manifest for Cylon)"))


if __name__ == "__main__":
    main()
