"""The machinery behind config.py's table: a key is declared once, on its dataclass field.

``key("maximumApiRetry", integer(0, 10), 3)`` on a frozen dataclass field names the JSON key,
the kind of value (type and bounds), the default, whether it is secret and its environment
variable. :func:`read_block` reads a JSON object against such a dataclass, so parsing, the
list of known keys, the did-you-mean hints and the environment overrides all come from the
same declarations. A block inside a block is a :class:`Block` kind; a list of them
``ListOf(Block(...))``: errors and hints inside name their full JSON path.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from hapbridge.errors import ConfigError

T = TypeVar("T")
_KEY = "hapbridge.config.key"
_WHOLE = object()  # marker: the error is about the key's whole value


class Level(enum.IntEnum):
    """How much a note matters; the values are logging levels, so ``run`` logs it as is."""

    INFO = logging.INFO
    WARNING = logging.WARNING  # likely hides a mistake, such as a misspelt key


@dataclass(frozen=True)
class Note:
    """One line about the config that is not an error ("ignoring platform 'Hue' ...")."""

    level: Level
    text: str

    def __str__(self) -> str:
        return self.text


class _WarningCheck(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, Note) and instance.level is Level.WARNING


class ConfigWarning(metaclass=_WarningCheck):
    """The old name: ``isinstance(note, ConfigWarning)`` still tells a warning (prefer
    ``note.level``)."""


class Invalid(Exception):
    """A kind's verdict on a value; ``reason`` completes the sentence "<path><at> ..."."""

    def __init__(
        self, reason: str, *, show_value: bool = True, at: str = "", value: object = _WHOLE
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.show_value = show_value
        self.at = at  # e.g. "[2]" when one list item is wrong
        self.value = value


@dataclass(frozen=True)
class Spot:
    """Where a value is: the file named in messages, its JSON path, the notes collected."""

    source: str
    path: str
    notes: list[Note] = field(default_factory=list, compare=False)

    def child(self, name: str) -> Spot:
        joined = f"{self.path}{name}" if name.startswith("[") else f"{self.path}.{name}"
        return Spot(self.source, joined if self.path else name, self.notes)

    def note(self, level: Level, text: str) -> None:
        self.notes.append(Note(level, text))

    def error(self, err: Invalid, value: object, *, secret: bool) -> ConfigError:
        message = f"{self.source}: {self.path}{err.at} {err.reason}"
        if err.show_value:
            shown = value if err.value is _WHOLE else err.value
            message += f", got {describe(shown, secret=secret)}"
        return ConfigError(message)


class Kind(Generic[T]):
    """How one JSON value becomes a ``T``: raises :class:`Invalid` for a wrong value."""

    def read(self, value: object, spot: Spot) -> T:
        raise NotImplementedError


class Value(Kind[T]):
    """A plain value (string, number, ...) checked by one function."""

    def __init__(self, convert: Callable[[object], T]) -> None:
        self.convert = convert

    def read(self, value: object, spot: Spot) -> T:
        return self.convert(value)


class ListOf(Kind[tuple[T, ...]]):
    """A JSON list of ``item``; with ``lone``, a single item counts as a list of one."""

    def __init__(self, item: Kind[T], plural: str, *, lone: bool = False) -> None:
        self.item = item
        self.plural = plural
        self.lone = lone

    def read(self, value: object, spot: Spot) -> tuple[T, ...]:
        if not isinstance(value, list):
            if not self.lone:
                raise Invalid(f"must be a list of {self.plural}")
            try:
                return (self.item.read(value, spot),)
            except Invalid:
                raise Invalid(f"must be a list of {self.plural}") from None
        out: list[T] = []
        for index, item in enumerate(value):
            try:
                out.append(self.item.read(item, spot.child(f"[{index}]")))
            except Invalid as err:
                raise Invalid(err.reason, show_value=err.show_value, at=f"[{index}]{err.at}",
                              value=item if err.value is _WHOLE else err.value) from None
        return tuple(out)


B = TypeVar("B")


class Block(Kind[B]):
    """A JSON object inside a block, declared by its own dataclass of :func:`key` fields
    (e.g. a platform's ``"callback": {"port": ..., "publicUrl": ...}``)."""

    def __init__(self, cls: type[B], *, also_known: Iterable[str] = ()) -> None:
        self.cls = cls
        self.also_known = tuple(also_known)

    def read(self, value: object, spot: Spot) -> B:
        if not isinstance(value, dict):
            raise Invalid("must be an object")
        return read_block(self.cls, value, spot, also_known=self.also_known)


@dataclass(frozen=True)
class Key(Generic[T]):
    """One key's declaration (see :func:`key`)."""

    json: str
    kind: Kind[T]
    secret: bool = False
    env: str | None = None
    required: bool = False


def key(
    json: str,
    kind: Kind[T],
    default: T,
    *,
    secret: bool = False,
    env: str | None = None,
    required: bool = False,
) -> T:
    """Declare a dataclass field as the JSON key ``json``.

    ``secret``: never shown in a message or a repr (a wrong one is described by its type).
    ``env``: a non-empty environment variable of that name fills or overrides it.
    ``required``: what ``has_required`` checks (the credentials a login needs).
    A missing key or JSON null means ``default``.
    """
    declared = Key(json, kind, secret=secret, env=env, required=required)
    return cast(T, field(default=default, repr=not secret, metadata={_KEY: declared}))


@functools.cache
def keys_of(cls: type) -> dict[str, Key[Any]]:
    """The declared keys of a config dataclass, by attribute name, in declaration order."""
    return {f.name: f.metadata[_KEY] for f in dataclasses.fields(cls) if _KEY in f.metadata}


def json_names(cls: type) -> tuple[str, ...]:
    return tuple(declared.json for declared in keys_of(cls).values())


def read_block(
    cls: type[B], data: Mapping[str, object], spot: Spot, *, also_known: Iterable[str] = ()
) -> B:
    """``cls`` from the JSON object ``data`` at ``spot``; misspelt keys become warnings."""
    for unknown, match in near_misses(data, (*json_names(cls), *also_known)).items():
        spot.note(Level.WARNING,
                  f"ignoring {spot.child(unknown).path} (did you mean {match}?): "
                  "its default is used")
    values: dict[str, object] = {}
    for attr, declared in keys_of(cls).items():
        value = data.get(declared.json)
        if value is None:
            continue
        at = spot.child(declared.json)
        try:
            values[attr] = declared.kind.read(value, at)
        except Invalid as err:
            raise at.error(err, value, secret=declared.secret) from None
    return cls(**values)


def near_misses(data: Mapping[str, object], known: Iterable[str]) -> dict[str, str]:
    """Unknown keys that look like a known one (``clientId`` for ``clientid``)."""
    known = tuple(known)
    lowered = {k.lower(): k for k in known}
    found: dict[str, str] = {}
    for name in data:
        if name in known or name.startswith("_"):
            continue
        match = lowered.get(name.lower()) or next(
            iter(difflib.get_close_matches(name, known, n=1, cutoff=0.8)), None
        )
        if match:
            found[name] = match
    return found


def from_env(block: B, env: Mapping[str, str]) -> B:
    """``block`` with its ``env`` keys taken from non-empty environment variables."""
    changes = {attr: env[declared.env] for attr, declared in keys_of(type(block)).items()
               if declared.env and env.get(declared.env)}
    return dataclasses.replace(block, **changes) if changes else block  # type: ignore[type-var]


def missing_required(block: object) -> list[Key[Any]]:
    """The ``required`` keys that ``block`` leaves empty."""
    return [declared for attr, declared in keys_of(type(block)).items()
            if declared.required and not getattr(block, attr)]


def describe(value: object, *, secret: bool = False) -> str:
    """A short, one-line account of ``value``; for secrets only its type."""
    if value is None:
        return "null"
    if isinstance(value, bool) and not secret:
        return "true" if value else "false"
    if secret:
        return f"a {len(value)}-character string" if isinstance(value, str) else _kind(value)
    if isinstance(value, int | float | str):
        text = repr(value)
        return text if len(text) <= 42 else f"{text[:38]}...{text[-1]}"
    return _kind(value)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {list: "a list", dict: "an object", str: "a string"}.get(type(value), "a value")
