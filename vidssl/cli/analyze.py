"""``vidssl analyze``: the table the speediness analysis prints (the analysis itself is
:func:`vidssl.recipes.analysis.speediness`; the STS label figure is
:func:`vidssl.eval.analysis.sts_labels.draw_sts_labels`)."""
from __future__ import annotations


def format_speediness_table(summary: dict) -> str:
    """A markdown table (speed, clips, median, 5 %, 95 %, normalised median) and whether the order holds."""
    lines = ["| speed | clips | median | 5% | 95% | normalised median |", "|---|---|---|---|---|---|"]
    for speed in summary["speeds"]:
        raw, norm = summary["per_speed"][speed]["raw"], summary["per_speed"][speed]["normalized"]
        lines.append(
            f"| {speed} | {raw['count']} | {raw['p50']:.3f} | {raw['p5']:.3f} | {raw['p95']:.3f} | {norm['p50']:.2f} |"
        )
    order = " < ".join(summary["speeds"])
    lines.append(f"order {order} of the medians: {'holds' if summary['ordered'] else 'does NOT hold'}")
    norm = summary["normalization"]
    if norm["mean_2x"] < norm["mean_1x"]:
        lines.append("note: 2x clips score lower than 1x clips on average, so the normalised scale is flipped")
    return "\n".join(lines)
