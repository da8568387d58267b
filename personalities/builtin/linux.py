"""``linux``: the default semantics. It changes nothing; a stack of one ``linux``
behaves exactly like no personality at all."""

from __future__ import annotations

from cofferos.personalities.base import Personality


class Linux(Personality):
    name = "linux"
    description = "the default Linux semantics (changes nothing)"
