"""The headers htmx sends, so a Django test client can ask for what a browser running htmx asks for.

A view answers an htmx request with a partial (or an HX-Redirect) and a plain one with a whole page;
most dialog tests run both ways, parametrized on `htmx`.
"""

HTMX = {"HX-Request": "true"}
# hx-boost: htmx fetches a whole page for a link or form, and the view must answer with the page.
BOOSTED = {**HTMX, "HX-Boosted": "true"}


def htmx_headers(htmx: bool) -> dict[str, str]:
    """The headers of an htmx request when `htmx`, none (a plain browser request) otherwise."""
    return dict(HTMX) if htmx else {}
