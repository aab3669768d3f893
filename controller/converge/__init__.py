"""Convergence steps: each converges one aspect of a charger, as I/O around a pure plan.

Configuration keys (with availability, which is sent among the key changes in the plan's
order: `availability`), reboots that apply changes, charging profiles from power limits, the
local authorisation list and firmware are each a `Step` (`base`), in a module of its own with
its own tests; what each decides is pure and lives in `controller.planning`. The reconciler
only chooses when a charger is reconciled and runs its steps in order.
"""
