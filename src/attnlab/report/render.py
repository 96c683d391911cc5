"""Rendering a :class:`attnlab.report.load.Report` into one self-contained HTML page, written for people.

Order of the page: *at a glance* (per study: findings that pass, consistency checks, and how many of the
paper's numbers and statements we reproduce at this preset), *the paper beside ours* (every study's ledger),
every finding, the consistency checks apart, a figure index, then one section per study opening with a
paragraph generated from its verdicts and ledger (:mod:`attnlab.report.prose`).  Claim values are named parts
with three significant digits and thresholds are words (:mod:`attnlab.report.values`); nothing is printed as
a bare list or dict.

Self-contained: the stylesheet is inlined, figures are base64 PNG data URIs, no script, no external URL.
Every string that comes from a run (configs, names, claims, captions, reasons, reference data) goes through
:func:`esc` (``html.escape`` with quotes); element ids are generated (``run-0``, ``fig-0-1``, ...), never taken
from run data.  Tables carry ``data-label`` on their cells, so on a phone each row becomes a card (style.css).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from pathlib import Path

import pandas as pd

from .. import __version__
from ..ledger import AGREES, DISAGREES, JUDGEMENTS, NOT_MEASURED, SAME_ORDER, counts as ledger_counts, num
from .load import VERDICTS, Report, Run, verdict_of
from .prose import kind_of, study_paragraph
from .values import threshold_html, value_html

CSS = (Path(__file__).with_name("style.css")).read_text(encoding="utf-8")
PROVENANCE = [("study", "study"), ("preset", "preset"), ("status", "status"), ("version", "attnlab version"),
              ("git_commit", "git commit"), ("started", "started"), ("finished", "finished"),
              ("wall_time_s", "wall time"), ("executor", "executor"), ("workers", "workers"),
              ("torch_threads", "torch threads"), ("seed", "seed"), ("seeds", "seeds"),
              ("config_hash", "config hash")]
JUDGEMENT_CLASS = {AGREES: "agrees", SAME_ORDER: "order", DISAGREES: "disagrees", NOT_MEASURED: "nm"}


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def fmt(v) -> str:
    """A compact text form of a config value or number (not yet escaped); lists of config values stay lists."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(fmt(x) for x in v) + ")"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {fmt(x)}" for k, x in v.items())
    return str(v)


def badge(verdict: str) -> str:
    v = verdict if verdict in VERDICTS else "undecided"
    return f'<span class="v v-{v}">{esc(verdict)}</span>'


def jbadge(judgement: str) -> str:
    cls = JUDGEMENT_CLASS.get(judgement, "nm")
    return f'<span class="j j-{cls}">{esc(judgement)}</span>'


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


def _counts_html(counts: dict[str, int], skip_zero: bool = False) -> str:
    return "".join(f'<span class="v v-{k}">{n} {k}</span>' for k, n in counts.items() if n or not skip_zero)


def _td(label: str, body: str, cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<td data-label="{esc(label)}"{c}{extra}>{body}</td>'


def _findings(run: Run) -> list[dict]:
    return [c for c in run.claims if kind_of(c) == "finding"]


def _checks(run: Run) -> list[dict]:
    return [c for c in run.claims if kind_of(c) == "consistency"]


def _preset(report: Report, run: Run) -> str:
    return str(run.meta.get("preset") or report.reproduce.get("preset") or "?")


# ---- at a glance ------------------------------------------------------------------------------------------
def glance(report: Report) -> str:
    """Per study: findings, consistency checks, and the ledger's judgements ("k of n agree")."""
    rows = []
    tot = {j: 0 for j in JUDGEMENTS}
    for i, run in enumerate(report.runs):
        if run.name == "matrix":
            continue
        status = run.meta.get("status") or run.entry.get("status") or ("unreadable" if run.problem else "—")
        head = (f'<a href="#run-{i}">{esc(run.name)}</a><br><span class="mono">{esc(_preset(report, run))} · '
                f'{esc(status)} · {esc(_wall(run.meta) if run.meta else _wall(run.entry))}</span>')
        f, k = _findings(run), _checks(run)
        fc = _counts(f)
        findings = (f"<b>{fc['pass']} of {len(f)}</b> pass<br>{_counts_html(fc, skip_zero=True)}" if f
                    else esc(run.problem and "run unreadable" or "none"))
        kc = sum(verdict_of(c) == "pass" for c in k)
        checks = f"{kc} of {len(k)} hold" if k else "none"
        if run.ledger is not None and len(run.ledger):
            lc = ledger_counts(run.ledger)
            for j in JUDGEMENTS:
                tot[j] += lc[j]
            paper = (f'<a href="#ledger-{i}"><b>{lc[AGREES]} of {len(run.ledger)}</b> agree</a><br>'
                     + "".join(f"{jbadge_n(j, lc[j])}" for j in JUDGEMENTS if lc[j]))
        else:
            paper = f'<span class="detail">{esc(run.ledger_problem or "no ledger")}</span>'
        rows.append("<tr>" + _td("study", head) + _td("findings", findings, "c") + _td("consistency checks", checks, "c")
                    + _td("the paper's numbers and statements", paper) + "</tr>")
    n_ledger = sum(tot.values())
    lead = (f"Of the papers' {n_ledger} numbers and statements in the ledgers, we reproduce "
            f"<b>{tot[AGREES]}</b> (they agree with ours) at this preset; {_are(tot[SAME_ORDER])} of the same "
            f"order, {tot[DISAGREES]} {'disagrees' if tot[DISAGREES] == 1 else 'disagree'} and "
            f"{_are(tot[NOT_MEASURED])} not measured at this preset."
            if n_ledger else "No study's ledger holds reference rows yet.")
    allf = [c for r in report.runs for c in _findings(r)]
    allk = [c for r in report.runs for c in _checks(r)]
    lead += f" {sum(verdict_of(c) == 'pass' for c in allf)} of {len(allf)} findings pass"
    lead += (f"; {sum(verdict_of(c) == 'pass' for c in allk)} of {len(allk)} consistency checks hold." if allk
             else ".")
    return (f'<section id="overview"><h2>At a glance</h2><p class="lead">{lead}</p>'
            '<table class="glance stack"><colgroup><col style="width:24%"><col style="width:26%">'
            '<col style="width:16%"><col style="width:34%"></colgroup><thead><tr><th>study</th><th>findings</th>'
            "<th>consistency checks</th><th>the paper's numbers and statements</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></section>")


def _are(n: int) -> str:
    return f"{n} {'is' if n == 1 else 'are'}"


def jbadge_n(judgement: str, n: int) -> str:
    cls = JUDGEMENT_CLASS.get(judgement, "nm")
    word = {AGREES: "agree", DISAGREES: "disagree"}.get(judgement, judgement) if n != 1 else judgement
    return f'<span class="j j-{cls}">{n} {esc(word)}</span>'


# ---- the ledger ---------------------------------------------------------------------------------------------
def _with_units(text: str, units: str) -> str:
    return f"{text} {units}" if units and text not in ("—", "holds", "positive", "negative", "zero") else text


def _reason_notes(df: pd.DataFrame, i: int) -> dict[str, tuple[int, str]]:
    """Each distinct tolerance reason once: reason -> (number, anchor id); rows cite it as [n]."""
    out: dict[str, tuple[int, str]] = {}
    for reason in df["tolerance_reason"].fillna(""):
        if reason and reason not in out:
            out[reason] = (len(out) + 1, f"tol-{i}-{len(out) + 1}")
    return out


def ledger_table(df: pd.DataFrame, notes: dict[str, tuple[int, str]] | None = None) -> str:
    notes = notes or {}
    rows = []
    for r in df.itertuples(index=False):
        units = str(r.units or "")
        ours = "—" if pd.isna(r.ours) else (
            ("holds" if r.ours == 1 else "does not hold" if r.ours == 0 else num(r.ours))
            if r.judge == "qualitative" else _with_units(num(r.ours), units))
        ratio = "" if pd.isna(r.ratio) or r.judge in ("qualitative", "sign") else f"{num(r.ratio)}×"
        why = str(r.reason or "")
        note = f'<br><span class="detail">{esc(r.note)}</span>' if r.note else ""
        tol = ""
        if r.judge == "ratio" and not pd.isna(r.tolerance):
            tol = f"within {num(r.tolerance)}×"
        elif r.judge in ("range", "at_least", "at_most", "sign"):
            tol = {"range": "inside the range", "at_least": "at least", "at_most": "at most",
                   "sign": "same sign"}[r.judge]
        cite = ""
        if r.tolerance_reason:
            n, anchor = notes.get(r.tolerance_reason, (0, ""))
            cite = (f' <a href="#{anchor}" title="{esc(r.tolerance_reason)}">[{n}]</a>' if n
                    else f" ({esc(r.tolerance_reason)})")
        rows.append(
            "<tr>" + _td("quantity", f"{esc(r.quantity)}<br><code>{esc(r.id)}</code>{note}")
            + _td("paper", esc(_with_units(str(r.paper), units)), "num c")
            + _td("ours", esc(ours), "num c")
            + _td("ours / paper", esc(ratio), "num c")
            + _td("judgement", jbadge(str(r.judgement)) + f'<br><span class="detail">{esc(tol)}{cite}</span>')
            + _td("source", f"{esc(r.source)} <span class=\"tag\">{esc(r.source_tag)}</span>"
                  + (f'<br><span class="detail">{esc(r.applies_to)}</span>' if r.applies_to else ""))
            + _td("how", f'<span class="detail">{esc(why)}</span>')
            + "</tr>")
    cols = "".join(f'<col style="width:{w}%">' for w in (24, 11, 11, 8, 13, 17, 16))
    return (f'<table class="ledger stack"><colgroup>{cols}</colgroup><thead><tr><th>quantity</th><th>paper</th>'
            "<th>ours</th><th>ours / paper</th><th>judgement</th><th>source</th><th>how it was judged</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def study_ledger(df: pd.DataFrame, i: int) -> str:
    """The measured rows in a table, the rows not measured at this preset folded below it, then each tolerance
    reason once."""
    notes = _reason_notes(df, i)
    lc = ledger_counts(df)
    out = ['<p class="counts">' + "".join(jbadge_n(j, lc[j]) for j in JUDGEMENTS) + "</p>"]
    measured = df[df["judgement"] != NOT_MEASURED]
    absent = df[df["judgement"] == NOT_MEASURED]
    if len(measured):
        out.append(ledger_table(measured, notes))
    if len(absent):
        table = ledger_table(absent, notes)
        out.append(table if not len(measured) else
                   f"<details><summary>{len(absent)} not measured at this preset (why, for each)</summary>{table}"
                   "</details>")
    if notes:
        out.append('<ol class="notes">' + "".join(f'<li id="{a}" value="{n}">Tolerance: {esc(reason)}</li>'
                                                 for reason, (n, a) in notes.items()) + "</ol>")
    return "".join(out)


def ledger_section(report: Report) -> str:
    parts = []
    for i, run in enumerate(report.runs):
        if run.name == "matrix":
            continue
        parts.append(f'<h3 id="ledger-{i}">{esc(run.name)}</h3>')
        if run.ledger is None or not len(run.ledger):
            parts.append(f'<p class="detail">{esc(run.ledger_problem or "no ledger")}</p>')
            continue
        parts.append(study_ledger(run.ledger, i))
    return ('<section id="ledger"><h2>The papers\' numbers beside ours</h2>'
            "<p>Each row is a number or statement of the paper (its source: table and cell, figure or section; "
            "<span class=tag>paper</span> = the paper's text, <span class=tag>secondary</span> = recovered "
            "from secondary material), our value at this preset, and a judgement: <b>agrees</b> (within the "
            "row's tolerance, inside the range, same sign, or the statement holds), <b>same order</b> (within "
            "10× for a ratio, within 2× of the range), <b>disagrees</b>, or <b>not measured at this preset</b>. "
            "Tolerances come from the paper's own spread or a reason stated with the row, never tuned to "
            "pass.</p>" + "".join(parts) + "</section>")


# ---- claims -----------------------------------------------------------------------------------------------
def _detail(text) -> str:
    """A claim's detail; a check's traceback (after " | Traceback") folds into a <details>."""
    line, sep, trace = str(text or "").partition(" | Traceback")
    if not sep:
        return esc(line)
    return f"{esc(line)}<details><summary>traceback</summary><pre>{esc('Traceback' + trace)}</pre></details>"


def overview(report: Report, kind: str = "finding") -> str:
    """Every finding (or every consistency check) of every study, one row each."""
    rows = []
    for i, run in enumerate(report.runs):
        claims = [c for c in run.claims if kind_of(c) == kind]
        if not claims:
            continue
        head = f'<a href="#run-{i}">{esc(run.name)}</a>'
        for j, c in enumerate(claims):
            first = _td("study", head, extra=f' rowspan="{len(claims)}"') if j == 0 else ""
            rows.append(f"<tr>{first}" + _td("claim", f"<code>{esc(c.get('id'))}</code>")
                        + _td("source", esc(c.get("source", "")), "c") + _td("verdict", badge(verdict_of(c)), "verdict c")
                        + _td("value", value_html(c.get("value")), "num c")
                        + _td("threshold", threshold_html(c.get("threshold")), "num c") + "</tr>")
    if kind == "finding":
        title, sid = "Findings", "findings"
        intro = "The papers' statements that our numbers could contradict, one row each."
    else:
        title, sid = "Consistency checks", "checks"
        intro = ("Identities and bounds that hold by construction: they check the code, not the science, so "
                 "they are kept apart from the findings.")
    if not rows:
        return f'<section id="{sid}"><h2>{title}</h2><p class="detail">None in this report.</p></section>'
    allc = [c for r in report.runs for c in r.claims if kind_of(c) == kind]
    return (f'<section id="{sid}"><h2>{title}</h2><p>{intro}</p><p class="counts">{len(allc)} in all: '
            f"{_counts_html(_counts(allc), skip_zero=True)}</p>"
            f'<table class="overview stack"><colgroup><col style="width:13%"><col style="width:30%">'
            '<col style="width:10%"><col style="width:10%"><col style="width:20%"><col style="width:17%"></colgroup>'
            "<thead><tr><th>study</th><th>claim</th><th>source</th><th>verdict</th><th>value</th><th>threshold</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def claims_table(claims: list[dict]) -> str:
    if not claims:
        return "<p class=detail>No claims recorded.</p>"
    rows = []
    for c in claims:
        rows.append("<tr>" + _td("id", f"<code>{esc(c.get('id'))}</code>")
                    + _td("statement", esc(c.get("statement", ""))) + _td("source", esc(c.get("source", "")), "c")
                    + _td("verdict", badge(verdict_of(c)), "verdict c")
                    + _td("value", value_html(c.get("value")), "num c")
                    + _td("threshold", threshold_html(c.get("threshold")), "num c")
                    + _td("detail", _detail(c.get("detail", "")), "detail") + "</tr>")
    cols = "".join(f'<col style="width:{w}%">' for w in (15, 24, 9, 9, 14, 12, 17))
    return (f'<table class="claims stack"><colgroup>{cols}</colgroup><thead><tr><th>id</th><th>statement</th>'
            "<th>source</th><th>verdict</th><th>value</th><th>threshold</th><th>detail</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


# ---- figures ----------------------------------------------------------------------------------------------
def figures_html(run: Run, i: int = 0) -> str:
    if not run.figures:
        return ""
    items = []
    for k, f in enumerate(run.figures, 1):
        cap = f"<figcaption><b>Figure {k}.</b> {esc(f.caption)} <span class=mono>({esc(f.file)})</span></figcaption>"
        if f.png is None:
            items.append(f'<figure id="fig-{i}-{k}" class="missing"><p>Figure {esc(f.file)} not shown: '
                         f"{esc(f.problem)}</p>{cap}</figure>")
        else:
            data = base64.b64encode(f.png).decode("ascii")
            items.append(f'<figure id="fig-{i}-{k}"><img src="data:image/png;base64,{data}" alt="{esc(f.file)}">'
                         f"{cap}</figure>")
    wide = " wide" if run.matrix is not None else ""   # heatmaps are wide: one per row
    return f'<h3>Figures</h3><div class="figs{wide}">{"".join(items)}</div>'


def figure_index(report: Report) -> str:
    groups = []
    for i, run in enumerate(report.runs):
        if not run.figures:
            continue
        items = "".join(f'<li><a href="#fig-{i}-{k}">Figure {k}</a>. {esc(f.caption or f.file)}'
                        + ("" if f.png is not None else f' <span class="detail">(not shown: {esc(f.problem)})</span>')
                        + "</li>" for k, f in enumerate(run.figures, 1))
        groups.append(f'<li><a href="#run-{i}"><b>{esc(run.name)}</b></a><ol class="figlist">{items}</ol></li>')
    n = sum(len(r.figures) for r in report.runs)
    body = f'<ul class="figindex">{"".join(groups)}</ul>' if groups else '<p class="detail">No figures.</p>'
    return f'<section id="figures"><h2>Figure index</h2><p>{n} figure(s).</p>{body}</section>'


# ---- one run ----------------------------------------------------------------------------------------------
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


def run_section(run: Run, i: int, preset: str = "?") -> str:
    info = study_text(run)
    parts = [f'<section class="study" id="run-{i}"><h2>{esc(info["title"] or run.name)}'
             f'<span class="name">{esc(run.name)}</span></h2>']
    if info["paper"]:
        parts.append(f"<p class=paper>Paper: {esc(info['paper'])}"
                     + (f" · docs: <code>{esc(info['docs'])}</code>" if info["docs"] else "") + "</p>")
    if run.name != "matrix":
        parts.append(f'<p class="lead">{study_paragraph(run, preset)}'
                     + (f' <a href="#ledger-{i}">The ledger.</a>' if run.ledger is not None and len(run.ledger)
                        else "") + "</p>")
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
        f, k = _findings(run), _checks(run)
        parts.append(f"<h3>Findings</h3><p class=counts>{_counts_html(_counts(f))}</p>{claims_table(f)}")
        if k:
            parts.append("<h3>Consistency checks</h3><p class=detail>Identities and bounds that hold by construction; "
                         f"they check the code.</p><p class=counts>{_counts_html(_counts(k), skip_zero=True)}</p>"
                         f"{claims_table(k)}")
    if run.matrix is not None:
        parts.append(f'<div class="scroll">{matrix_html(run.matrix)}</div>')
    parts.append(figures_html(run, i))
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
    sections = "".join(run_section(r, i, _preset(report, r)) for i, r in enumerate(report.runs))
    top = (glance(report) + ledger_section(report) + overview(report, "finding") + overview(report, "consistency")
           + figure_index(report))
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>attnlab report — {esc(report.source.name)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>attnlab report</h1><p>{what} · source <span class=mono>{esc(report.source)}</span>"
            f" · generated {esc(now)} by attnlab {esc(__version__)}</p></header>"
            '<nav><a href="#overview">at a glance</a><a href="#ledger">the papers beside ours</a>'
            '<a href="#findings">findings</a><a href="#checks">consistency checks</a><a href="#figures">figures</a>'
            f'{nav}</nav><main>{top}{sections}</main>'
            "<footer>One self-contained page: figures embedded, no scripts, no network.</footer></body></html>\n")
