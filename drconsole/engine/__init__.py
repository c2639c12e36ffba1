"""The engine: runs a plan's step DAG, asks people through an Operator, writes the journal.

It imports no UI. Its state is built only by applying journal events, so that a live run and a
replay of its journal give the same state.
"""
