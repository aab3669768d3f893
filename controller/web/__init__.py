"""The read-only web view's server side: JSON status API, command escape hatches, metrics.

- `app`: the HTTP server (`WebServer`, `WebOptions`), run next to the OCPP endpoint;
- `status`: the JSON documents, computed from the fleet, the store and the connections;
- `commands`: the imperative escape hatches as values, sent and logged as events;
- `metrics`: Prometheus metrics (`Metrics`), also fed by the reconciler;
- `access`: who is asking and what they may see (not enforced yet);
- `client`, `clicommands`: `chargectl command` and `chargectl logs`, over the HTTP API.

Nothing is re-exported here: the CLI imports `clicommands` on every start, and must not pay
for importing aiohttp and prometheus-client to validate a fleet.
"""
