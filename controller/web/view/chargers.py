"""The chargers page(s) of the web view (being written: routes are added by its author)."""

from __future__ import annotations

from aiohttp import web

from controller.web.view.site import View


def routes(view: View) -> list[web.RouteDef]:
    return []
