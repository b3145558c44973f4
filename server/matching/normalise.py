"""Normalisation of names and postcodes, and the editable table of given-name variants."""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict
from importlib.resources import files
from pathlib import Path

import jellyfish
from anyascii import anyascii

#: The LRS convention for "postcode not known".
UNKNOWN_POSTCODE = "ZZ999ZZ"
#: Longest name key stored (the key columns' length).
KEY_LENGTH = 100


def name_key(value: str | None) -> str | None:
    """Upper-case A–Z of the name transliterated to ASCII (anyascii); apostrophes, hyphens and
    spaces dropped.

    O'Neil, ONeil and O Neil share one key, as do Smith-Jones and Smith Jones; Ødegård is
    ODEGARD, Łukasz LUKASZ, Σοφία SOFIA, 李 LI, so a search typed in ASCII finds a name stored
    in its own script. A name that transliterates to no letter at all (symbols only) keys as
    itself, casefolded without spaces: equal names still compare equal, and a name never
    loses its key. Keys are cut at ``KEY_LENGTH`` (one character can transliterate to several).
    """
    if value is None:
        return None
    key = "".join(ch for ch in anyascii(value).upper() if "A" <= ch <= "Z")
    if not key:
        key = "".join(unicodedata.normalize("NFKC", value).casefold().split())
    return key[:KEY_LENGTH] or None


def sound_key(key: str | None) -> str | None:
    """Soundex of a name key: the same code for most one-letter slips after the first."""
    return jellyfish.soundex(key) if key else None


def postcode_key(value: str | None) -> str | None:
    """Upper case without spaces (the 'not known' postcode stays ZZ999ZZ; see ``known``)."""
    if value is None:
        return None
    return "".join(value.split()).upper() or None


def known_postcode(key: str | None) -> str | None:
    """The postcode key, or None when it is missing or the 'not known' ZZ99 9ZZ."""
    return key if key and key != UNKNOWN_POSTCODE else None


class NameVariants:
    """Groups of given names that are the same name (Bob/Robert, Kate/Katherine)."""

    def __init__(self, groups: list[list[str]]) -> None:
        self.groups = groups
        self._groups: dict[str, set[int]] = defaultdict(set)
        self._members: list[frozenset[str]] = []
        for index, group in enumerate(groups):
            keys = frozenset(k for k in (name_key(name) for name in group) if k)
            self._members.append(keys)
            for key in keys:
                self._groups[key].add(index)

    @classmethod
    def load(cls, path: Path) -> NameVariants:
        groups = []
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                groups.append([name.strip() for name in line.split(",") if name.strip()])
        return cls(groups)

    def equivalent(self, a: str | None, b: str | None) -> bool:
        if not a or not b:
            return False
        return a == b or bool(self._groups.get(a, set()) & self._groups.get(b, set()))

    def alternatives(self, name: str) -> list[str]:
        """Other spellings of ``name`` as written in the table (for synthetic data)."""
        key = name_key(name)
        names = {other for index in self._groups.get(key, ()) for other in self.groups[index]}
        return sorted(other for other in names if name_key(other) != key)

    def variants(self, key: str | None) -> set[str]:
        """Every key sharing a group with ``key``, ``key`` included."""
        if not key:
            return set()
        found = {key}
        for index in self._groups.get(key, ()):
            found |= self._members[index]
        return found


@functools.cache
def default_variants() -> NameVariants:
    """The table shipped with miap (the ``name_variants`` setting may choose another file; see
    ``server/app.py``)."""
    return NameVariants.load(Path(str(files("miap.server"))) / "data" / "given_name_variants.txt")
