"""Immutable values that flow between layers: commands and their answers (`commands`, with
`CallFailed`, the answer of a call that got none usable), store records (`records`) and
timestamps.

They are what the OCPP endpoint, the store, the planning layer and the convergence steps
hand one another, so none of those layers needs to import another to agree on a type.
"""
