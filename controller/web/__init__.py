"""The read-only web view's server side: JSON status API, command escape hatches, metrics.

- `app`: the HTTP server (`WebServer`, `WebOptions`), run next to the OCPP endpoint;
- `status`: the JSON documents, computed from the fleet, the store and the connections;
- `plan`: `/api/plan`, the plan document `chargectl plan --server` reads;
- `commands`: the imperative escape hatches as values, sent and logged as events;
- `metrics`: Prometheus metrics (`Metrics`), also fed by the reconciler through its recorder;
- `access`: who is asking and what they may see (not enforced yet).

The command-line side of the API (`chargectl command`, `logs`, `plan --server`) lives in
`controller.cli`. Nothing is re-exported here, so importing one module does not load aiohttp
and prometheus-client for another.
"""
