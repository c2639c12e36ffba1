"""Moved to :mod:`drconsole.people`; this re-export goes once every importer is updated."""

from drconsole.people import answer_problem, name_key, text_problem

__all__ = ["answer_problem", "name_key", "text_problem"]
