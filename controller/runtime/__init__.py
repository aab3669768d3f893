"""The serving process: wiring the endpoint, reconciler, store and web server together.

Also what only a long-running process needs: logging set-up, the garbage collector policy and
development certificates. Everything here is started by `chargectl serve` (and, later,
`chargectl operator`), which differ only in their source of desired state.
"""
