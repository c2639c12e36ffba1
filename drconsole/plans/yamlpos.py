"""YAML loading that remembers where each value came from.

A plan error is only useful with a line number, so the loader returns the data together with a
map from each path (``("steps", 2, "with", "path")``) to its line and column in the file.
Duplicate keys, which PyYAML would silently overwrite, are reported as problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    col: int


@dataclass
class LoadedYaml:
    """Data read from YAML plus the position of each path and the problems met."""

    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)
    problems: list[tuple[Position, str]] = field(default_factory=list)

    def position(self, path: Path) -> Position:
        """The position of ``path``, or of its nearest ancestor that exists in the file."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), Position(1, 1))


class YamlSyntaxError(Exception):
    """The text is not YAML; carries the position of the fault."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document keeping positions.

    Raises:
        YamlSyntaxError: the text is not valid YAML (position of the fault included).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise YamlSyntaxError(pos, f"YAML syntax error: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Position(1, 1), f"YAML error: {exc}") from None
    loaded = LoadedYaml(data=None)
    if root is None:
        return loaded
    loaded.positions[()] = _mark(root)
    constructor = yaml.SafeLoader("")
    try:
        loaded.data = _build(root, (), loaded, constructor)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        pos = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        raise YamlSyntaxError(pos, f"YAML error: {exc.problem}") from None
    finally:
        constructor.dispose()
    return loaded


def _build(node: yaml.Node, path: Path, loaded: LoadedYaml, constructor: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        constructor.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _build(key_node, path, loaded, constructor)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*path, key)
            if key in result:
                loaded.problems.append((_mark(key_node), f"duplicate key {key!r}"))
            loaded.positions[child] = _mark(key_node)
            result[key] = _build(value_node, child, loaded, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            loaded.positions[child] = _mark(item)
            items.append(_build(item, child, loaded, constructor))
        return items
    return constructor.construct_object(node, deep=True)
