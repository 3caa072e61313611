"""Prints MDTA vs GLMHA parameters and MACs (effrestore.models.cost, attention matmuls included).

One attention module per row at equal dim and heads, then the full official `restormer` with each kind.
Usage: python benchmarks/glmha_vs_mdta.py [--heads 1]
"""

from __future__ import annotations

import argparse

from effrestore.models import build_attention, build_model, cost

DIMS = (48, 96, 192)
SIDES = (8, 64, 256, 512)


def module_rows(heads: int) -> list[str]:
    rows = []
    for dim in DIMS:
        for side in SIDES:
            shape = (1, dim, side, side)
            mdta = cost(build_attention("mdta", dim, heads), shape)
            glmha = cost(build_attention("glmha", dim, heads), shape)
            rows.append(
                f"| {dim} | {side}² | {mdta[0]:,} | {glmha[0]:,} | {mdta[1] / 1e6:,.1f} | {glmha[1] / 1e6:,.1f} "
                f"| {1 - glmha[1] / mdta[1]:.1%} |"
            )
    return rows


def backbone_row(kind: str) -> str:
    params, macs = cost(build_model("restormer", attention=kind), (1, 3, 256, 256))
    return f"| `restormer` + {kind} | {params / 1e6:.3f} M | {macs / 1e9:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", type=int, default=1)
    heads = parser.parse_args().heads
    print(f"| dim | N | MDTA params | GLMHA params | MDTA MMACs | GLMHA MMACs | MACs saved |  (heads={heads})")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(module_rows(heads)))
    print("\n| model | params | GMACs @256² |\n|---|---|---|")
    print("\n".join(backbone_row(kind) for kind in ("mdta", "glmha")))


if __name__ == "__main__":
    main()
