"""The read-only web view: server-rendered pages over the same data the JSON API serves.

`site` wires the pages into the status API's aiohttp application; each page module (`dashboard`,
`locations`, `chargers`, `charger`, `search`, `account`) contributes its routes. Templates,
static assets and the gettext catalogues live beside the code and ship as package data, so the
view works with no internet: no asset is fetched from anywhere but this server.
"""
