"""``vidssl embed`` and ``vidssl search``: what they print. The work is :mod:`vidssl.recipes.embed`'s, on the
embedding engine :mod:`vidssl.eval.embed`."""
from __future__ import annotations

_NAMES_SHOWN = 5


def format_embed_summary(summary: dict) -> str:
    """The lines ``vidssl embed`` prints at the end: what was written, and which videos were skipped."""
    if summary["up_to_date"]:
        lines = [f"{summary['out']} is up to date ({summary['num_embedded']} videos, same settings): nothing to do"]
    else:
        reused = f", {summary['reused']} reused from earlier work" if summary["reused"] else ""
        lines = [f"embedded {summary['num_embedded']} of {summary['num_videos']} videos ({summary['dim']}-d{reused}) "
                 f"-> {summary['out']}, index {summary['index']}"]
    skipped = summary["skipped"]
    if skipped:
        lines.append(f"skipped {len(skipped)} unreadable videos (listed in the index):")
        lines += [f"  {item['path']}: {item['reason']}" for item in skipped[:_NAMES_SHOWN]]
        if len(skipped) > _NAMES_SHOWN:
            lines.append(f"  ... and {len(skipped) - _NAMES_SHOWN} more")
    return "\n".join(lines)


def format_search_table(summary: dict) -> str:
    """The table ``vidssl search`` prints: the query, then one line per result (rank, similarity, path)."""
    where = f"row {summary['row']} of the index" if summary["row"] is not None else "embedded now"
    lines = [f"query: {summary['query']} ({where})", f"{'rank':>4}  {'similarity':>10}  path"]
    lines += [f"{r['rank']:>4}  {r['similarity']:>10.4f}  {r['path']}" for r in summary["results"]]
    return "\n".join(lines)
