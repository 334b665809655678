"""Small validation helpers shared by config dataclasses."""


def is_int(value) -> bool:
    """True for ints but not bools (``True`` is an ``int`` in Python, never a valid size)."""
    return isinstance(value, int) and not isinstance(value, bool)
