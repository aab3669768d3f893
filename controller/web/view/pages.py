"""Every page module of the view, in the order of the navigation."""

from __future__ import annotations

from controller.web.view import account, charger, chargers, dashboard, locations, search

PAGES = (dashboard, locations, chargers, charger, search, account)
