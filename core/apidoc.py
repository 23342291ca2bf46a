"""OpenAPI documentation without a runtime cost, for the hottest routes.

flask-smorest's `blp.doc(...)` and `blp.alt_response(...)` document a view by wrapping it in a
function that only calls it (and resolves `ensure_sync` on every call). On POST /v1/usage/.../use
those four pass-through layers cost ~0.06 M instructions a request (2 %, callgrind). `doc_only`
keeps what such a decorator writes into the view's `_apidoc` and returns the view itself.
Only for decorators whose wrapper is a pure pass-through (doc, alt_response), never for
`arguments` or `response`, which do the work.
"""
from __future__ import annotations


def doc_only(decorator):
    def apply(view):
        view._apidoc = decorator(view)._apidoc  # the documentation, as the wrapper would carry it
        return view

    return apply
