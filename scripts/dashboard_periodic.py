"""The dashboard's /periodic page: the periodic jobs, which rq-dashboard cannot show.

rq-scheduler keeps them in its own sorted set, not in RQ's ScheduledJobRegistry, so
rq-dashboard's "Scheduled" column reads 0. This page lists each one with its interval,
next run, last run and lag (jobs.schedule.periodic_status); /periodic.json is the same as
JSON. rq-dashboard's pages get a link to it. Behind the dashboard's basic auth like every URL.
"""
from __future__ import annotations

from flask import Flask, jsonify, render_template_string, request

from jobs import schedule, scheduler

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Periodic jobs - RQ dashboard</title>
<link href="{{ url_for('static', filename='css/bootstrap.min.css') }}" rel="stylesheet"></head>
<body class="container"><h1>Periodic jobs</h1>
<p>Run by rq-scheduler (<code>flask rq scheduler</code>); a job deleted from the dashboard is registered
again within one scheduler poll. <a href="{{ url_for('rq_dashboard.queues_overview') }}">Back to the queues</a></p>
<table class="table table-striped"><thead><tr><th>Job</th><th>Every (s)</th><th>Next run</th>
<th>Last run</th><th>Lag (s)</th><th>State</th></tr></thead><tbody>
{% for job_id, s in jobs.items() %}<tr><td>{{ job_id }}</td><td>{{ s.interval_seconds }}</td>
<td>{{ s.next_run or "not scheduled: the scheduler re-registers it on its next poll" }}</td>
<td>{{ s.last_run or "never" }}</td><td>{{ s.lag_seconds if s.lag_seconds is not none else "" }}</td>
<td>{{ "OVERDUE" if s.overdue else "ok" }}</td></tr>{% endfor %}
</tbody></table></body></html>"""
LINK = b'<p class="container"><a href="/periodic">Periodic jobs (rq-scheduler)</a></p></body>'


def periodic_jobs(connection) -> dict:
    status = schedule.periodic_status(connection)
    for job_id, when in scheduler.next_runs(connection).items():
        status[job_id]["next_run"] = when
    return status


def init_app(app: Flask) -> None:
    @app.get("/periodic")
    def periodic_page():
        return render_template_string(PAGE, jobs=periodic_jobs(app.redis_conn))

    @app.get("/periodic.json")
    def periodic_json():
        return jsonify(periodic_jobs(app.redis_conn))

    @app.after_request
    def _link_periodic_page(response):
        # rq-dashboard's own pages, rendered whole (never streamed), get one link to this page.
        if (response.mimetype == "text/html" and response.status_code == 200 and not response.is_streamed
                and request.path != "/periodic"):
            response.set_data(response.get_data().replace(b"</body>", LINK, 1))
        return response
