"""The admin web UI's test client and login helpers; fixtures `ui` and `admin` (registered in tests/conftest.py)."""
import re

import pytest
from flask import g

PASSWORD = "correct-horse-1"


@pytest.fixture
def ui(app):
    """A client whose form posts carry no CSRF token unless a test adds one (as a browser would)."""
    return app.test_client()


@pytest.fixture
def admin(seeded, make_user):
    return make_user("ops@example.com", role="admin")[0]


def csrf_of(response) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:500]
    return match.group(1)


def log_in(ui, email="ops@example.com", password=PASSWORD):
    token = csrf_of(ui.get("/admin/login"))
    response = ui.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})
    # pytest-flask keeps one app context for the whole test, so Flask-WTF's per-request token cache in g
    # would outlive the session the login replaced; a real server starts each request afresh.
    g.pop("csrf_token", None)
    return response


def post_form(ui, path: str, data: dict, page: str | None = None):
    token = csrf_of(ui.get(page or path))
    return ui.post(path, data={**data, "csrf_token": token})
