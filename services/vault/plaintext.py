"""A decrypted secret that will not print itself.

Whatever prints, logs or formats a traceback of a ``Plaintext`` sees
``[redacted]``; the bytes come out only through an explicit ``reveal()``.
"""


class Plaintext:
    __slots__ = ("_value",)

    def __init__(self, value: bytes):
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Plaintext([redacted])"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Plaintext cannot be pickled")
