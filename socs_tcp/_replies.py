"""What a reply says: whether it matches, its numbers, its NumPy items.

Pure functions of bytes, for ``TCPInterface``'s instrument-protocol methods
(``query(expect=...)``, ``query_values``, ``query_block(dtype=...)``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:
    import numpy

#: What ``query(expect=...)`` takes: a compiled bytes regex, or a bytes prefix.
Expect = Union["re.Pattern[bytes]", bytes, bytearray]


def check_expect(expect: Any) -> None:
    """None, a compiled ``bytes`` regex, or a ``bytes`` prefix."""
    if expect is None or isinstance(expect, (bytes, bytearray)):
        return
    if isinstance(expect, re.Pattern) and isinstance(expect.pattern, bytes):
        return
    hint = (
        "compile a bytes pattern, e.g. re.compile(rb'\\d+')"
        if isinstance(expect, re.Pattern) or isinstance(expect, str)
        else "pass a compiled bytes regex or a bytes prefix"
    )
    raise TypeError(
        f"expect must be a compiled bytes regex (matched whole) or a bytes "
        f"prefix, not {type(expect).__name__} {expect!r}; {hint}"
    )


def matches(expect: Expect, reply: bytes) -> bool:
    """Whether ``reply`` matches: a regex the whole of it, a prefix its start."""
    if isinstance(expect, (bytes, bytearray)):
        return reply.startswith(expect)
    return expect.fullmatch(reply) is not None


def check_separator(separator: Any) -> bytes:
    """``query_values``'s separator: non-empty bytes."""
    if not isinstance(separator, (bytes, bytearray)) or not separator:
        raise TypeError(
            f"separator must be non-empty bytes such as b',', not {separator!r}"
        )
    return bytes(separator)


def parse_values(
    reply: bytes, separator: bytes, converter: Callable[[str], Any]
) -> list[Any]:
    """The fields of an ASCII ``reply``, each stripped and converted.

    An empty (or all-blank) reply has no fields. ValueError names the field
    that did not convert, by position and content.
    """
    if not reply.strip():
        return []
    values = []
    for index, field in enumerate(reply.split(separator)):
        try:
            values.append(converter(field.strip().decode("ascii")))
        except (ValueError, TypeError, ArithmeticError, UnicodeDecodeError) as exc:
            name = getattr(converter, "__name__", repr(converter))
            raise ValueError(
                f"field {index} ({field!r}) of the reply {reply[:80]!r} did not "
                f"convert with {name}: {exc}"
            ) from None
    return values


def numpy_dtype(dtype: Any) -> numpy.dtype[Any]:
    """``dtype`` as a NumPy dtype a block's bytes can fill.

    ImportError with advice without NumPy; TypeError for a dtype of Python
    objects (raw bytes are not objects), ValueError for one of no size
    (``"S"``: no item count follows from a length).
    """
    try:
        import numpy
    except ImportError:
        raise ImportError(
            "query_block(dtype=...) returns a NumPy array and needs NumPy: "
            "pip install numpy (or leave dtype out for the block's bytes)"
        ) from None
    dt = numpy.dtype(dtype)
    if dt.hasobject:
        raise TypeError(
            f"dtype {dtype!r} holds Python objects, which a block's bytes "
            "cannot be; give a numeric or bytes dtype such as '<f4' or 'S8'"
        )
    if not dt.itemsize:
        raise ValueError(
            f"dtype {dtype!r} has items of no size; give the size, e.g. 'S8'"
        )
    return dt


def empty_array(count: int, dtype: numpy.dtype[Any]) -> numpy.ndarray[Any, Any]:
    """An uninitialised array of ``count`` items (after :func:`numpy_dtype`)."""
    import numpy

    return numpy.empty(count, dtype)


def byte_view(array: numpy.ndarray[Any, Any]) -> memoryview:
    """A writable view of a C-contiguous ``array``'s bytes, as one flat run.

    Unlike ``array.data.cast("B")``, also for an empty array of a
    sub-array dtype (shape ``(0, n)``), which ``memoryview.cast`` refuses.
    """
    import numpy

    return array.reshape(-1).view(numpy.uint8).data
