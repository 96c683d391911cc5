"""Rendering a :class:`attnlab.report.load.Report` into one self-contained HTML page.

Self-contained: the stylesheet is inlined, figures are base64 PNG data URIs, no script, no external URL.
Every string that comes from a run (configs, names, claims, captions, reasons) goes through :func:`esc`
(``html.escape`` with quotes); element ids are generated (``run-0``, ...), never taken from run data.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from pathlib import Path

import pandas as pd

from .. import __version__
from .load import VERDICTS, Report, Run, verdict_of

CSS = (Path(__file__).with_name("style.css")).read_text(encoding="utf-8")
PROVENANCE = [("study", "study"), ("preset", "preset"), ("status", "status"), ("version", "attnlab version"),
              ("git_commit", "git commit"), ("started", "started"), ("finished", "finished"),
              ("wall_time_s", "wall time"), ("executor", "executor"), ("workers", "workers"),
              ("torch_threads", "torch threads"), ("seed", "seed"), ("seeds", "seeds"),
              ("config_hash", "config hash")]


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def fmt(v) -> str:
    """A compact text form of a claim value / config value (not yet escaped)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def badge(verdict: str) -> str:
    v = verdict if verdict in VERDICTS else "undecided"
    return f'<span class="v v-{v}">{esc(verdict)}</span>'


def _wall(meta: dict) -> str:
    w = meta.get("wall_time_s")
    return f"{w:.1f} s" if isinstance(w, (int, float)) and not isinstance(w, bool) else "—"


def study_text(run: Run) -> dict:
    """title, paper, summary, docs: from the Study object when it imports, else from config.json."""
    info = {k: run.meta.get(k, "") for k in ("title", "paper", "summary", "docs")}
    try:
        from ..studies import get_study

        st = get_study(run.name)
        info.update({k: getattr(st, k, "") or info[k] for k in info})
    except Exception:  # noqa: BLE001 - a study that does not import still gets its page from config.json
        pass
    return info


def _counts(claims: list[dict]) -> dict[str, int]:
    out = {v: 0 for v in VERDICTS}
    for c in claims:
        out[verdict_of(c)] += 1
    return out


def _counts_html(counts: dict[str, int]) -> str:
    return "".join(f'<span class="v v-{k}">{n} {k}</span>' for k, n in counts.items())


# ---- overview ---------------------------------------------------------------------------------------------
def overview(report: Report) -> str:
    rows = []
    for i, run in enumerate(report.runs):
        status = run.meta.get("status") or run.entry.get("status") or ("unreadable" if run.problem else "—")
        head = (f'<a href="#run-{i}">{esc(run.name)}</a><br><span class="mono">{esc(status)} · '
                f'{esc(_wall(run.meta) if run.meta else _wall(run.entry))}</span>')
        claims = run.claims
        if not claims:
            why = run.problem or ("the run has no claims.json (it did not finish)" if run.meta.get("status") != "done"
                                  else "this study states no claims")
            rows.append(f"<tr><td>{head}</td><td colspan=5 class=detail>{esc(why)}</td></tr>")
            continue
        for j, c in enumerate(claims):
            v = verdict_of(c)
            first = f'<td rowspan="{len(claims)}">{head}</td>' if j == 0 else ""
            rows.append(f"<tr>{first}<td><code>{esc(c.get('id'))}</code></td><td>{esc(c.get('source', ''))}</td>"
                        f'<td class=verdict>{badge(v)}</td><td class=num>{esc(fmt(c.get("value")))}</td>'
                        f"<td class=num>{esc(fmt(c.get('threshold')))}</td></tr>")
    allc = [c for r in report.runs for c in r.claims]
    return (f'<section id="overview"><h2>Overview</h2><p class="counts">{len(allc)} claims in '
            f"{len(report.runs)} run(s): {_counts_html(_counts(allc))}</p>"
            '<table class="overview"><colgroup><col style="width:13%"><col style="width:33%"><col style="width:10%">'
            '<col style="width:9%"><col style="width:18%"><col style="width:17%"></colgroup>'
            '<thead><tr><th>study</th><th>claim</th><th>source</th><th>verdict</th>'
            f"<th>value</th><th>threshold</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


# ---- one run ---------------------------------------------------------------------------------------------
def _detail(text) -> str:
    """A claim's detail; a check's traceback (after " | Traceback") folds into a <details>."""
    line, sep, trace = str(text or "").partition(" | Traceback")
    if not sep:
        return esc(line)
    return f"{esc(line)}<details><summary>traceback</summary><pre>{esc('Traceback' + trace)}</pre></details>"


def claims_table(claims: list[dict]) -> str:
    if not claims:
        return "<p class=detail>No claims recorded.</p>"
    rows = []
    for c in claims:
        v = verdict_of(c)
        rows.append(f"<tr><td><code>{esc(c.get('id'))}</code></td><td>{esc(c.get('statement', ''))}</td>"
                    f"<td>{esc(c.get('source', ''))}</td><td class=verdict>{badge(v)}</td>"
                    f"<td class=num>{esc(fmt(c.get('value')))}</td><td class=num>{esc(fmt(c.get('threshold')))}</td>"
                    f"<td class=detail>{_detail(c.get('detail', ''))}</td></tr>")
    cols = "".join(f'<col style="width:{w}%">' for w in (16, 25, 10, 8, 11, 10, 20))
    return (f'<table class="claims"><colgroup>{cols}</colgroup><thead><tr><th>id</th><th>statement</th><th>source</th><th>verdict</th>'
            f"<th>value</th><th>threshold</th><th>detail</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def figures_html(run: Run) -> str:
    if not run.figures:
        return ""
    items = []
    for k, f in enumerate(run.figures, 1):
        cap = f"<figcaption><b>Figure {k}.</b> {esc(f.caption)} <span class=mono>({esc(f.file)})</span></figcaption>"
        if f.png is None:
            items.append(f'<figure class="missing"><p>Figure {esc(f.file)} not shown: {esc(f.problem)}</p>{cap}</figure>')
        else:
            data = base64.b64encode(f.png).decode("ascii")
            items.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(f.file)}">{cap}</figure>')
    wide = " wide" if run.matrix is not None else ""   # heatmaps are wide: one per row
    return f'<h3>Figures</h3><div class="figs{wide}">{"".join(items)}</div>'


def provenance(run: Run) -> str:
    items = []
    for key, label in PROVENANCE:
        if key in run.meta:
            value = _wall(run.meta) if key == "wall_time_s" else fmt(run.meta[key])
            items.append(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>")
    items.append(f"<dt>run dir</dt><dd>{esc(run.dir)}</dd>")
    return f"<h3>Provenance</h3><dl class=prov>{''.join(items)}</dl>"


def config_html(run: Run) -> str:
    cfg = run.meta.get("config")
    if not isinstance(cfg, dict):
        return ""
    rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td class=mono>{esc(fmt(v))}</td></tr>" for k, v in cfg.items())
    return (f"<details><summary>Resolved config ({len(cfg)} fields)</summary>"
            f'<table class="kv"><thead><tr><th>field</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'
            "</details>")


def tables_html(run: Run) -> str:
    if not run.tables:
        return ""
    rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td class=detail>{esc(v)}</td></tr>" for k, v in run.tables.items())
    return (f"<details><summary>Tables ({len(run.tables)}, in tables/*.parquet)</summary>"
            f'<table class="kv"><thead><tr><th>table</th><th>rows: columns</th></tr></thead><tbody>{rows}</tbody>'
            "</table></details>")


def matrix_html(df: pd.DataFrame) -> str:
    """Pivot of the matrix table: rows (study, metric), columns normalization; n/a cells carry the reason."""
    norms = list(dict.fromkeys(df["normalization"]))
    head = "".join(f"<th>{esc(n)}</th>" for n in norms)
    body: list[str] = []
    notes: dict[tuple[str, str, str], list[str]] = {}   # (study, status, reason) -> normalizations
    for study in dict.fromkeys(df["study"]):
        sub = df[df["study"] == study]
        metrics = list(dict.fromkeys(sub.loc[sub["status"] == "ok", "metric"])) or ["(no metric)"]
        cells_by_norm = {}
        for n in norms:
            col = sub[sub["normalization"] == n]
            status = col["status"].iloc[0] if len(col) else "missing"
            reason = col["reason"].iloc[0] if len(col) else "no row for this pair"
            if status != "ok":
                notes.setdefault((study, status, reason), []).append(n)
            cells_by_norm[n] = (status, reason, col)
        for i, m in enumerate(metrics):
            cells = []
            for n in norms:
                status, reason, col = cells_by_norm[n]
                if status == "ok":
                    hit = col.loc[col["metric"] == m, "value"]
                    cells.append(f"<td class=cell>{esc(fmt(float(hit.iloc[0]))) if len(hit) else '—'}</td>")
                else:
                    cls = "na" if status == "not_applicable" else "bad"
                    label = {"not_applicable": "n/a"}.get(status, status)
                    tip = str(reason).partition(" | ")[0]
                    cells.append(f'<td class="{cls}" title="{esc(tip)}">{esc(label)}</td>')
            first = f'<td rowspan="{len(metrics)}"><b>{esc(study)}</b></td>' if i == 0 else ""
            body.append(f"<tr>{first}<td><code>{esc(m)}</code></td>{''.join(cells)}</tr>")
    items = []
    for (study, status, reason), ns in notes.items():
        line, _, trace = str(reason).partition(" | ")   # errors carry " | <traceback>"
        trace_html = f"<details><summary>traceback</summary><pre>{esc(trace)}</pre></details>" if trace else ""
        items.append(f"<li><b>{esc(study)}</b> · {', '.join(f'<code>{esc(n)}</code>' for n in ns)} "
                     f"({esc(status)}): {esc(line)}{trace_html}</li>")
    reasons = f"<h3>Not applicable, diverged or errored</h3><ul class=reasons>{''.join(items)}</ul>" if items else ""
    return ("<h3>Normalization matrix</h3>"
            "<p>Each study's headline metrics (rows) under each normalization of the registry (columns); "
            "n/a = the normalization does not apply to that study (reason below and on hover).</p>"
            f'<table class="matrix"><thead><tr><th>study</th><th>metric</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{reasons}")


def run_section(run: Run, i: int) -> str:
    info = study_text(run)
    parts = [f'<section class="study" id="run-{i}"><h2>{esc(info["title"] or run.name)}'
             f'<span class="name">{esc(run.name)}</span></h2>']
    if info["paper"]:
        parts.append(f"<p class=paper>Paper: {esc(info['paper'])}"
                     + (f" · docs: <code>{esc(info['docs'])}</code>" if info["docs"] else "") + "</p>")
    if info["summary"]:
        parts.append(f"<p class=summary>{esc(info['summary'])}</p>")
    if run.problem:
        parts.append(f"<div class=problem>This run could not be read: {esc(run.problem)}</div>")
    elif run.meta.get("status") not in (None, "done"):
        parts.append(f"<div class=problem>Run status: {esc(run.meta.get('status'))} "
                     "(claims and figures may be missing).</div>")
    if run.entry.get("exit_code") not in (None, 0):
        parts.append(f"<div class=problem>attnlab reproduce: exit code {esc(run.entry.get('exit_code'))} "
                     f"(status {esc(run.entry.get('status', '?'))}).</div>")
    if run.meta:
        parts.append(f"<h3>Claims</h3><p class=counts>{_counts_html(_counts(run.claims))}</p>{claims_table(run.claims)}")
    if run.matrix is not None:
        parts.append(matrix_html(run.matrix))
    parts.append(figures_html(run))
    if run.meta:
        parts.append(provenance(run) + config_html(run) + tables_html(run))
    parts.append("</section>")
    return "".join(parts)


def render(report: Report) -> str:
    nav = "".join(f'<a href="#run-{i}">{esc(r.name)}</a>' for i, r in enumerate(report.runs))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if report.kind == "reproduce":
        what = f"reproduce run, preset {esc(report.reproduce.get('preset', '?'))}, {len(report.runs)} run(s)"
        if "wall_time_s" in report.reproduce:
            what += f" in {esc(_wall(report.reproduce))}"
    else:
        what = f"single run of {esc(report.runs[0].name)}, preset {esc(report.runs[0].meta.get('preset', '?'))}"
    sections = "".join(run_section(r, i) for i, r in enumerate(report.runs))
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>attnlab report — {esc(report.source.name)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>attnlab report</h1><p>{what} · source <span class=mono>{esc(report.source)}</span>"
            f" · generated {esc(now)} by attnlab {esc(__version__)}</p></header>"
            f'<nav><a href="#overview">overview</a>{nav}</nav><main>{overview(report)}{sections}</main>'
            "<footer>One self-contained page: figures embedded, no scripts, no network.</footer></body></html>\n")
