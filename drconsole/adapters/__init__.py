"""Adapters: one module per system. Plain classes with typed methods, results and errors.

Adapters know nothing of plans, the engine or the journal. Each module lists its actions as
:class:`~drconsole.adapters.base.ActionSpec` objects; :mod:`drconsole.adapters.registry` collects
them. Heavy client libraries are imported inside the methods that use them, so that validating
a plan or printing ``--help`` stays fast.
"""
