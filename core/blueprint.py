"""The flask-smorest Blueprint every resource of both services uses."""
from __future__ import annotations

import flask_smorest

from core.jsonbody import BillingParser


class Blueprint(flask_smorest.Blueprint):
    """Parses request bodies with core.jsonbody, so hostile JSON is a 4xx on every route."""

    ARGUMENTS_PARSER = BillingParser()
