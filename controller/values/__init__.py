"""Immutable values that flow between layers: commands and their answers, store records,
timestamps and errors.

They are what the OCPP endpoint, the store, the planning layer and the convergence steps
hand one another, so none of those layers needs to import another to agree on a type.
"""
