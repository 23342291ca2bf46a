"""Turn a bench run's results into the printed table, bench/out/results.json and bench/out/results.png."""
from __future__ import annotations

import json
import os


def _fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def drain_note(after_load: dict | None) -> str:
    """How long the queues took to empty once the load stopped (and what a bounded wait left)."""
    if not after_load:
        return ""
    left = ", ".join(f"{count} {queue}" for queue, count in sorted(after_load["left"].items()))
    return f"queues drained {after_load['drain_seconds']:g} s after the load" + (f", {left} jobs left" if left else "")


def payments_goal_note(pay: dict) -> str:
    """Issue #20's goal in words: 0.5 of the floor completed, web p99 under 100 ms, at that offered rate."""
    goal = pay.get("goal")
    if not goal:
        return ""
    verdict = "MET" if goal["met"] else "NOT MET"
    misses = [why for ok, why in ((goal["offered_enough"], f"offered below {goal['completed_per_s_needed']:g}/s"),
                                  (goal["completed_enough"], f"completed below {goal['completed_per_s_needed']:g}/s"),
                                  (goal["web_p99_ok"], f"web p99 not under {goal['web_p99_ms_under']:g} ms"))
              if not ok]
    return (f"goal {verdict} ({pay['ratio_to_floor']:.2f} of the floor, need 0.5; web p99 "
            f"{_fmt(pay.get('web_p99_ms'), 1)} ms, need < {goal['web_p99_ms_under']:g}"
            + (f": {', '.join(misses)})" if misses else ")"))


def rows(results: dict) -> list[list[str]]:
    """One row per measurement: name, paired ceiling, rate, p50, p99, ratio, note."""
    table = []
    for entry in results["http"]:
        if entry.get("skipped"):
            table.append([entry["name"], entry.get("ceiling") or "", "-", "-", "-", "-", "-", "-", entry["skipped"]])
            continue
        note = f"{entry['errors']} errors" if entry.get("errors") else ""
        if entry.get("paired_ceiling"):
            note = "; ".join(x for x in (f"{entry['ceiling']} {_fmt(entry['paired_ceiling']['rps'])} req/s in "
                                         f"alternate runs", note) if x)
        if entry.get("note"):
            note = "; ".join(x for x in (entry["note"], note) if x)
        table.append([entry["name"], entry.get("ceiling") or "(ceiling)", _fmt(entry["rps"]),
                      _fmt(entry["p50_ms"], 2), _fmt(entry["p99_ms"], 2),
                      _fmt(entry.get("ratio"), 2), _fmt(entry.get("server_cpu_ms_per_request"), 2),
                      _fmt(entry.get("cpu_ratio"), 2), note])
    table += period_close_rows(results.get("period_close") or {})
    pay = results.get("payments_e2e") or {}
    if pay.get("skipped"):
        table.append(["payments e2e (completed/s)", "target 150", "-", "-", "-", "-", "-", "-", pay["skipped"]])
    elif pay:
        goal = pay.get("goal")
        table.append(["payments e2e (completed/s)", "floor" if goal else "target 150", _fmt(pay.get("completed_per_s")),
                      _fmt(pay.get("web_p50_ms"), 2), _fmt(pay.get("web_p99_ms"), 2),
                      _fmt(pay.get("ratio_to_floor") if goal else pay.get("ratio_to_target"), 2),
                      _fmt((pay.get("cpu_ms_per_payment") or {}).get("servers_workers_postgres"), 1), "-",
                      "; ".join(x for x in (payments_goal_note(pay), (
                          f"offered {pay['offered_per_s']:g}/s ({pay.get('offered_rule', 'fixed')}), "
                          f"{pay['completed']}/{pay['posted']} active, e2e p50 {_fmt(pay.get('e2e_p50_ms'), 0)} ms; "
                          f"web = POSTs and Retry-After GETs; {_fmt(pay.get('gets_per_payment'), 2)} GET ?wait= "
                          f"per payment; {_fmt(pay.get('ratio_to_target'), 2)} of the 150/s target"),
                                                  drain_note(pay.get("after_load"))) if x)])
    floor = pay.get("floor") if pay else None
    if floor:
        table.append(["payments floor (ceilings)", "target 150", _fmt(floor["max_payments_per_s_on_this_box"]),
                      "-", "-", "-", _fmt(floor["cpu_ms_per_payment"], 1), "-",
                      f"every step at its ceiling, no polls: 150/s needs {_fmt(floor['cores_needed_for_target_at_floor'])} "
                      f"cores at best, {_fmt(floor['cores_needed_for_target_as_measured'])} as measured"])
    table += bill_run_rows(results) + list_rows(results)
    for rq in results.get("rq", []):
        name = f"rq {rq['kind']} {rq['worker_class']}"
        if rq.get("error"):
            table.append([name, "", "-", "-", "-", "-", "-", "-", rq["error"]])
            continue
        table.append([name, rq.get("ceiling", "target 250"), _fmt(rq.get("jobs_per_s")),
                      _fmt(rq.get("job_p50_ms"), 2), _fmt(rq.get("job_p99_ms"), 2), _fmt(rq.get("ratio"), 2),
                      _fmt(rq.get("cpu_ms_per_job"), 2), "-",
                      f"jobs/s per worker; p50/p99 = job run time; {rq['finished']}/{rq['jobs']} done"])
    return table


def bill_run_rows(results: dict) -> list[list[str]]:
    """Each bill run against the floor (its steps at this run's ceilings), then the floor and the growth."""
    summary = results.get("bill_run_summary") or {}
    floor, growth = summary.get("floor"), summary.get("growth")
    table = []
    for r in results.get("bill_run", []):
        parts = ", ".join(f"{name} {ms:g}" for name, ms in r["cpu_ms_per_renewal_by_process"].items())
        table.append([f"bill run {r['n']:,} (settled/s)", "floor" if floor else "-", _fmt(r.get("settled_per_s")),
                      "-", "-", _fmt(r.get("ratio_to_floor"), 2), _fmt(r["cpu_ms_per_renewal"], 1), "-",
                      f"{r['settled']:,}/{r['n']:,} settled in {_fmt(r['wall_seconds'])} s, {r['rq_workers']} "
                      f"workers; cpu ms/renewal: {parts}" + _left_over(r.get("jobs_left_over_at_start"))])
    if floor:
        table.append(["bill run floor (ceilings)", "-", _fmt(floor["max_settled_per_s_on_this_box"]), "-", "-", "-",
                      _fmt(floor["cpu_ms_per_renewal"], 1), "-",
                      "each renewal's steps at this run's ceilings: " + " + ".join(
                          f"{s['count']} x {s['priced_as']}" for s in floor["steps"])])
    if growth:
        table.append([f"bill run growth {growth['from_n']:,} -> {growth['to_n']:,}", "-", "-", "-", "-", "-",
                      _fmt(growth["cpu_per_renewal_ratio"], 2), "-",
                      f"cpu ms/renewal ratio ({'linear' if growth['linear'] else 'NOT linear'}: within 20 %); "
                      f"settled/s ratio {_fmt(growth['settled_per_s_ratio'], 2)}"])
    return table


def _left_over(jobs: dict | None) -> str:
    if not jobs:
        return ""
    return "; an earlier phase's jobs ran inside it: " + ", ".join(f"{n} {q}" for q, n in sorted(jobs.items()))


def list_rows(results: dict) -> list[list[str]]:
    """bench/lists.py's pages (ms, in-process) and how each list's cursor pages grow with its rows."""
    lists = results.get("lists") or {}
    if lists.get("skipped"):
        return [["lists (bench.lists)", "-", "-", "-", "-", "-", "-", "-", lists["skipped"]]]
    table = []
    for r in lists.get("rows", []):
        table.append([f"{r['list']} ({r['rows']:,} rows)", "-", "-", _fmt(r["cursor_first_ms"], 2),
                      _fmt(r["cursor_last_ms"], 2), "-", "-", "-",
                      f"p50/p99 columns: cursor page 1 / last page ms; offset {_fmt(r['offset_first_ms'], 2)} / "
                      f"{_fmt(r['offset_last_ms'], 2)} ms"])
    for g in lists.get("growth", []):
        table.append([f"{g['list']} growth {g['from_rows']:,} -> {g['to_rows']:,} rows", "-", "-",
                      _fmt(g["cursor_first_ms_growth"], 2), _fmt(g["cursor_last_ms_growth"], 2), "-", "-", "-",
                      f"latency ratio, cursor page 1 / last page; offset {_fmt(g['offset_first_ms_growth'], 2)} / "
                      f"{_fmt(g['offset_last_ms_growth'], 2)}"])
    return table


def period_close_rows(close: dict) -> list[list[str]]:
    """One row per N: customers closed and invoiced per second, ms and CPU ms per customer, growth."""
    growth = (close.get("growth") or {}).get("per_customer_time_ratio")
    table = []
    for r in close.get("runs", []):
        last = r is close["runs"][-1] and len(close["runs"]) > 1
        note = r.get("error") or (f"{r['usage_lines']:,} usage lines, {r['usage_cents']:,} cents; "
                                  f"{r['ms_per_customer']} ms per customer")
        table.append([f"period close, {r['customers']:,} customers", "linear" if last else "",
                      _fmt(r.get("customers_per_s")), "-", "-", _fmt(growth, 2) if last else "-",
                      _fmt(sum(r["cpu_ms_per_customer"].values()), 2), "-",
                      f"{note}; growth = per-customer time vs {close['runs'][0]['customers']:,}" if last else note])
    return table


HEADER = ["scenario", "vs ceiling", "req/s", "p50 ms", "p99 ms", "ratio", "cpu ms/req", "cpu ratio", "note"]


def table_text(results: dict) -> str:
    body = rows(results)
    widths = [max(len(str(r[i])) for r in body + [HEADER]) for i in range(len(HEADER) - 1)]
    lines = []
    for r in [HEADER, ["-" * w for w in widths] + ["----"]] + body:
        cells = [str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells + [str(r[-1])]).rstrip())
    return "\n".join(lines)


def table_markdown(results: dict) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows(results)]
    return "\n".join(lines)


def write_json(results: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def write_chart(results: dict, path: str) -> None:
    # matplotlib is a dev dependency, loaded only for the chart, and its backend must be set before pyplot loads.
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"), as said above

    measured = [e for e in results["http"] if not e.get("skipped")]
    paired = [dict(name=f"{e['name']} / {e['ceiling']}", ratio=e["ratio"])
              for e in measured if e.get("ratio") is not None]
    paired += [dict(name=f"rq {r['kind']} {r['worker_class']} / {r['ceiling']}", ratio=r["ratio"])
               for r in results.get("rq", []) if r.get("ratio") is not None]
    pay = results.get("payments_e2e") or {}
    if pay.get("ratio_to_floor") is not None:
        paired.append({"name": "payments e2e / floor (goal 0.5)", "ratio": pay["ratio_to_floor"]})
    elif pay.get("ratio_to_target") is not None:
        paired.append({"name": "payments e2e / target 150/s", "ratio": pay["ratio_to_target"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, max(4.5, 0.42 * max(len(paired), len(measured)) + 1.5)))
    names = [e["name"] for e in paired]
    left.barh(names, [e["ratio"] for e in paired], color="#4c72b0")
    left.axvline(0.7, color="#c44e52", linestyle="--", label="0.7 target (use, me)")
    left.axvline(1.0, color="grey", linewidth=0.8)
    for i, e in enumerate(paired):
        left.text(e["ratio"] + 0.01, i, f"{e['ratio']:.2f}", va="center", fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("ratio to its ceiling (same run, same gunicorn settings)")
    left.set_title("Throughput relative to ceiling")
    left.legend(loc="lower right", fontsize=8)

    lat_names = [e["name"] for e in measured]
    ys = range(len(measured))
    right.barh([y - 0.2 for y in ys], [e["p50_ms"] for e in measured], height=0.4, label="p50", color="#55a868")
    right.barh([y + 0.2 for y in ys], [e["p99_ms"] for e in measured], height=0.4, label="p99", color="#dd8452")
    right.set_yticks(list(ys), lat_names)
    right.set_xscale("log")
    right.invert_yaxis()
    right.set_xlabel("latency, ms (log scale)")
    right.set_title("Latency under load (wrk, median of repeats)")
    right.legend(loc="best", fontsize=8)
    meta = results["meta"]
    g = meta["gunicorn"]
    fig.suptitle(f"make bench - {meta['date']} - {meta['git_commit'][:10]} - {meta['cpu_count']} CPUs, gunicorn "
                 f"{g['workers']} x {g['worker_class']} ({g['threads']} threads) - load average at start "
                 f"{meta['load_average_at_start'][0]:.1f}", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
