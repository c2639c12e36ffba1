"""YAML loading that remembers where each value came from.

A plan error is only useful with a line number, so the loader returns the data together with a
map from each path (``("steps", 2, "with", "path")``) to its line and column in the file.
Duplicate keys, which PyYAML would silently overwrite, are reported as problems.

A plan file may come from anyone, so the loader bounds what it builds before building it:
nesting depth, the number of values (with every alias counted in full, so a few hundred bytes
of aliases cannot expand to billions of values), what aliases may repeat, and the length of
numbers. Each refusal names the place in the file.

Events come from libyaml's parser (PyYAML's C extension, three times faster than its Python
scanner: a 2000-step plan parses in 0.2 s), or from PyYAML's own Python parser where PyYAML was
built without libyaml (the same results, slower); nodes are composed here, in Python, so that
the bounds are checked before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

Path = tuple[str | int, ...]

MAX_DEPTH = 50
"""Nesting deeper than this is refused (a plan needs about eight levels)."""
MAX_VALUES = 200_000
"""Values a plan may hold once its aliases are expanded (a 2000-step plan holds about 20,000)."""
MAX_ALIASED = 10_000
"""Values that aliases (``*name``) may repeat, in all."""
MAX_DIGITS = 30
"""Digits of a number; a longer one is refused (quote it to keep it as text)."""


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


def _mark(node: yaml.Node | yaml.Event) -> Position:
    mark = node.start_mark
    return Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)


class _PythonParser(Reader, Scanner, Parser):
    """PyYAML's own parser, for a PyYAML built without libyaml."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


def _event_parser() -> type:
    """libyaml's parser where PyYAML has it, else PyYAML's own."""
    try:
        from yaml._yaml import CParser
    except ImportError:
        return _PythonParser
    return CParser


_EventParser: Any = _event_parser()


class _BoundedLoader(_EventParser, Composer, SafeConstructor, Resolver):  # type: ignore[misc]
    """The event parser with PyYAML's safe composer, counting while it composes: refuses deep
    nesting, aliases inside their own anchor, and more values (aliases expanded) than a plan
    may hold."""

    get_single_node = Composer.get_single_node

    def __init__(self, text: str) -> None:
        _EventParser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.depth = 0
        self.values = 0
        self.aliased = 0
        self.sizes: dict[str, int] = {}  # anchor -> values it expands to
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        assert isinstance(event, yaml.NodeEvent)  # the composer asks only where a node stands
        anchor = event.anchor
        if isinstance(event, yaml.AliasEvent):
            if anchor in self.open_anchors:
                raise YamlSyntaxError(
                    _mark(event), f"alias *{anchor} stands inside its own anchor: an endless value"
                )
            size = self.sizes.get(anchor, 1) if anchor else 1
            self.aliased += size
            if self.aliased > MAX_ALIASED:
                raise YamlSyntaxError(
                    _mark(event),
                    f"aliases repeat more than {MAX_ALIASED:,} values in all: write the plan "
                    "out, or alias less (is this a YAML alias bomb?)",
                )
            self._count(size, event)
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise YamlSyntaxError(
                _mark(event), f"nested more than {MAX_DEPTH} levels deep; a plan needs far fewer"
            )
        self._count(1, event)
        before = self.values
        if anchor is not None:
            self.open_anchors.add(anchor)
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        if anchor is not None:
            self.open_anchors.discard(anchor)
            self.sizes[anchor] = self.values - before + 1
        return node

    def _count(self, size: int, event: yaml.Event) -> None:
        self.values += size
        if self.values > MAX_VALUES:
            raise YamlSyntaxError(
                _mark(event), f"the plan holds more than {MAX_VALUES:,} values; split it"
            )


def load_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document keeping positions.

    Raises:
        YamlSyntaxError: the text is not valid YAML (position of the fault included).
    """
    try:
        loader = _BoundedLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
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
    digits = node.value.lstrip("+-").replace("_", "")
    if node.tag == "tag:yaml.org,2002:int" and len(digits) > MAX_DIGITS:
        raise YamlSyntaxError(
            _mark(node),
            f"a number of more than {MAX_DIGITS} digits; quote it if it is text (an id, a serial)",
        )
    try:
        return constructor.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # a date like 2026-02-30, say
        raise YamlSyntaxError(_mark(node), f"cannot read {node.value[:40]!r}: {exc}") from None
