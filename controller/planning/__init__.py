"""Planning: pure functions from (desired, reported) to what should be done. No I/O, no asyncio.

One module per aspect: `keys` (configuration keys, availability and reboots), `power`
(dividing a circuit's limit among sessions), `locallist` (the cards a charger should hold),
`firmware` (rollout slots), `tariffs` and `transactions` (the cost of a charging session),
`maintenance` (when a reboot is allowed). The convergence steps in `controller.converge` do
the I/O around these plans; an import-linter contract keeps this package free of I/O.
"""
