"""Writing a report: results.json, report.md and report.html."""

import html
import json

import numpy as np

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; } td.worst { font-weight: bold; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
.warn { background: #fff4e0; border-left: 4px solid #e69500; padding: 0.4em 0.8em; }
img { max-width: 100%; }
"""


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def write_json(path, results):
    path.write_text(json.dumps(_jsonable(results), indent=2) + "\n")


def _tables(results):
    """(title, header, rows, notes) of every table in the report."""
    budgets = results["budgets"]
    heads = ["attack"] + [f"eps={b['label']}" for b in budgets]
    robust = results["robust_accuracy"]
    rows = [[name] + [f"{a:.4f}" for a in acc] for name, acc in robust.items()]
    tables = [("Robust accuracy", heads, rows)]
    cert = results.get("certified_accuracy") or {}
    if cert:
        rows = [[m] + [f"{a:.4f}" for a in acc] for m, acc in cert.items()]
        tables.append(("Certified accuracy", ["method"] + heads[1:], rows))
    changed = results.get("most_changed_rows") or []
    if changed:
        rows = [
            [
                str(r["row"]),
                f"{r['label']}",
                f"{r['clean_prediction']} -> {r['adversarial_prediction']}",
                "; ".join(
                    f"{c['column']}: {c['clean']:.4g} -> {c['adversarial']:.4g}"
                    for c in r["changes"]
                )
                + _more(r),
            ]
            for r in changed
        ]
        tables.append(
            (
                f"Most-changed rows (worst case at eps={budgets[-1]['label']})",
                [
                    "row",
                    "label",
                    "prediction",
                    "largest changes (clean -> adversarial)",
                ],
                rows,
            )
        )
    return tables


def _more(row):
    n = row["n_changed"] - len(row["changes"])
    return f" (+{n} more)" if n > 0 else ""


def _summary_lines(results):
    m, d = results["model"], results["data"]
    return [
        f"model: {m['path']} ({m['type']}, "
        f"{'differentiable' if m['differentiable'] else 'black-box'})",
        f"data: {d['path']} ({d['n_samples']} samples, {d['n_features']} features)",
        f"clean accuracy: {results['clean_accuracy']:.4f}",
        f"attacks: {', '.join(results['attacks'])} (seed {results['seed']})",
    ]


def write_markdown(path, results):
    lines = ["# Robustness report", ""]
    lines += [f"- {line}" for line in _summary_lines(results)] + [""]
    for title, head, rows in _tables(results):
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "|".join(" --- " for _ in head) + "|")
        lines += ["| " + " | ".join(r).replace("\n", " ") + " |" for r in rows]
        lines.append("")
    lines += ["## Figures", ""]
    lines += [f"![{name}]({name})" for name in results["figures"]] + [""]
    lines += ["## Sanity checks", ""]
    warnings = results["warnings"] or ["no warning"]
    lines += [f"- {w}" for w in warnings] + [""]
    lines += ["## Threat model", ""] + [f"- {t}" for t in results["threat_model"]]
    lines += ["", "## Command", "", "```", results["command"], "```", ""]
    path.write_text("\n".join(lines))


def _html_table(title, head, rows):
    out = [f"<h2>{html.escape(title)}</h2>", "<table>", "<tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in head] + ["</tr>"]
    for row in rows:
        cls = ' class="worst"' if row[0] == "worst case" else ""
        cells = "".join(f"<td{cls}>{html.escape(c)}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    return out + ["</table>"]


def write_html(path, results):
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Robustness report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Robustness report</h1>",
        "<ul>",
    ]
    out += [f"<li>{esc(line)}</li>" for line in _summary_lines(results)] + ["</ul>"]
    for title, head, rows in _tables(results):
        out += _html_table(title, head, rows)
    for name in results["figures"]:
        out.append(f'<p><img src="{esc(name)}" alt="{esc(name)}"></p>')
    out.append("<h2>Sanity checks</h2>")
    if results["warnings"]:
        out += [f'<p class="warn">{esc(w)}</p>' for w in results["warnings"]]
    else:
        out.append("<p>No warning.</p>")
    out += ["<h2>Threat model</h2>", "<ul>"]
    out += [f"<li>{esc(t)}</li>" for t in results["threat_model"]] + ["</ul>"]
    out += ["<h2>Command</h2>", f"<pre>{esc(results['command'])}</pre>"]
    out.append(f"<p>skrobust {esc(results['skrobust_version'])}</p></body></html>")
    path.write_text("\n".join(out) + "\n")
