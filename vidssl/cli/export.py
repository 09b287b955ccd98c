"""``vidssl export``: what it prints. The export itself is :func:`vidssl.recipes.export.export_backbone`."""
from __future__ import annotations

from vidssl.recipes.export import HEAD_SEED


def format_export_summary(summary: dict) -> list[str]:
    """The lines ``vidssl export`` prints: what was written, how to load it, the round trip's difference."""
    width = "default width" if summary["width"] is None else f"width {summary['width']}"
    lines = [f"wrote {summary['out']} ({summary['bytes'] / 1e6:.1f} MB): {summary['backbone']} ({width}) "
             f"from {summary['source']} as {summary['format']}"]
    frames, size = summary["input_shape"][2], summary["input_shape"][3]
    if summary["format"] == "torchvision":
        lines.append(
            f"load: torchvision.models.video.{summary['backbone']}(num_classes={summary['num_classes']})"
            f".load_state_dict(torch.load(FILE, weights_only=True), strict=True); its classifier "
            f"'{summary['head']}' is UNTRAINED (torchvision's init, seed {HEAD_SEED}): fine-tune or replace it"
        )
    elif summary["format"] == "torchscript":
        lines.append(f"load: torch.jit.load(FILE)(clips) -> (N, {summary['num_features']}) features "
                     f"(traced on a 1x3x{frames}x{size}x{size} clip)")
    else:
        lines.append(f"input 'clip' (N, 3, {frames}, {size}, {size}) float32, output 'features' "
                     f"(N, {summary['num_features']}); batch size N is dynamic")
    check = "x".join(str(n) for n in summary["check_shape"])
    lines.append(f"round trip on a {check} random clip batch: max abs difference {summary['max_abs_diff']:.3g} "
                 f"(outputs up to {summary['max_abs_output']:.3g})")
    return lines
