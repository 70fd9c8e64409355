"""The short table printed at the end of a comparison."""

from __future__ import annotations


def _fmt(v, spec: str) -> str:
    try:
        return "-" if v is None else format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def summary_rows(results: dict) -> list[list[str]]:
    rows = [["arm", "seed", "frac", "status", "steps", "train s", "lr", "block", "ctx bytes", "bpb step 0",
             "bpb final", "ppl (own tokens)", "acc (own tokens)"]]
    if results["task"] == "summarize":
        rows[0] += ["ROUGE-1", "ROUGE-2", "ROUGE-L"]
    for r in results["runs"]:
        final = r.get("final") or {}
        curve = r.get("curve") or [{}]
        final = final if isinstance(final, dict) else {}
        row = [
            str(r.get("arm", "-")), _fmt(r.get("seed"), "d"), _fmt(r.get("fraction"), "g"), str(r.get("status", "-")),
            _fmt(r.get("steps"), "d"),
            _fmt(r.get("train_seconds"), ".0f"), _fmt((r.get("recipe") or {}).get("learning_rate"), ".3g"),
            _fmt(r.get("block_size"), "d"), _fmt(r.get("context_bytes"), "d"),
            _fmt(curve[0].get("valid_bits_per_byte"), ".3f"),
            _fmt(final.get("valid_bits_per_byte"), ".3f"), _fmt(final.get("valid_perplexity"), ".2f"),
            _fmt(final.get("valid_token_accuracy"), ".3f"),
        ]
        if results["task"] == "summarize":
            row += [_fmt(final.get(k), ".3f") for k in ("rouge1", "rouge2", "rougeL")]
        rows.append(row)
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_summary(results: dict) -> None:
    print(format_table(summary_rows(results)))
    v = results.get("verdict") or {}
    if v.get("sentence"):
        print(f"\nverdict: {v['sentence']}")
    for w in v.get("warnings") or []:
        print(f"warning: {w}")
