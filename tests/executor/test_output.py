"""What is kept of an agent's output: the cap, and the key taken out even where
the cap cuts through it."""

import pytest

from services.executor.output import KEY_REDACTED, TRUNCATED_NOTE, bytes_to_read, kept_output

LIMIT = 64
KEY = b"sk-test-0123456789abcdefXYZ"
# Two- and three-byte characters: the vault takes any printable key without whitespace.
NON_ASCII_KEY = "ключ-秘密-0123456789".encode()


def kept(written: bytes, key: bytes = KEY, limit: int = LIMIT) -> str:
    """What is stored when the agent wrote ``written``, read the way the sandbox reads."""
    to_read = bytes_to_read(limit, key)
    return kept_output(written[:to_read], more_came=len(written) > to_read, limit=limit, key=key)


def test_short_output_is_kept_whole_with_every_copy_redacted():
    written = b"k=" + KEY + b" " + KEY + b"\n"
    assert len(written) < LIMIT
    assert kept(written) == f"k={KEY_REDACTED} {KEY_REDACTED}\n"


@pytest.mark.parametrize("inside", range(1, len(KEY)))
def test_a_copy_the_limit_cuts_through_is_redacted(inside):
    # ``inside`` bytes of the copy lie before the limit, the rest after it.
    padding = b"x" * (LIMIT - inside)
    result = kept(padding + KEY + b"\nmore output\n")
    assert result == f"{padding.decode()}{KEY_REDACTED}{TRUNCATED_NOTE}"


@pytest.mark.parametrize("inside", range(1, len(KEY)))
def test_a_copy_cut_at_the_limit_that_ends_the_output_is_redacted(inside):
    padding = b"x" * (LIMIT - inside)
    result = kept(padding + KEY)
    assert result == f"{padding.decode()}{KEY_REDACTED}{TRUNCATED_NOTE}"


@pytest.mark.parametrize("inside", range(1, len(NON_ASCII_KEY)))
def test_a_non_ascii_key_cut_anywhere_by_the_limit_is_redacted(inside):
    padding = b"x" * (LIMIT - inside)
    result = kept(padding + NON_ASCII_KEY + b"\n" * 100, key=NON_ASCII_KEY)
    assert result == f"{padding.decode()}{KEY_REDACTED}{TRUNCATED_NOTE}"


def test_a_copy_ending_exactly_at_the_limit_is_redacted_and_nothing_is_cut():
    padding = b"x" * (LIMIT - len(KEY))
    assert kept(padding + KEY) == f"{padding.decode()}{KEY_REDACTED}"


def test_a_copy_beginning_at_the_limit_is_not_kept():
    padding = b"x" * LIMIT
    assert kept(padding + KEY) == f"{padding.decode()}{TRUNCATED_NOTE}"


def test_copies_back_to_back_across_the_limit_are_all_redacted():
    # Copies begin at 5, 32 and 59; the limit (64) cuts through the third.
    result = kept(b"x" * 5 + KEY * 10)
    assert result == "xxxxx" + KEY_REDACTED * 3 + TRUNCATED_NOTE


@pytest.mark.parametrize("inside", range(1, len(KEY)))
def test_many_copies_with_one_cut_by_the_limit_leave_no_part_of_it(inside):
    # Copies separated by one byte, the last one before the limit cut ``inside`` bytes in.
    line = KEY + b" "
    copies = (LIMIT - inside) // len(line)
    padding = b"x" * (LIMIT - inside - copies * len(line))
    result = kept(line * copies + padding + KEY + b"\n" * 50)
    assert result == f"{KEY_REDACTED} " * copies + padding.decode() + KEY_REDACTED + TRUNCATED_NOTE


def test_a_key_longer_than_the_limit_is_redacted():
    long_key = b"sk-" + b"k" * (2 * LIMIT)
    result = kept(b"key: " + long_key + b"\n", key=long_key)
    assert result == f"key: {KEY_REDACTED}{TRUNCATED_NOTE}"


def test_output_over_the_limit_without_the_key_is_cut_at_the_limit():
    assert kept(b"y" * (LIMIT * 3)) == "y" * LIMIT + TRUNCATED_NOTE


def test_output_within_the_read_ahead_is_still_cut_at_the_limit():
    # Longer than the limit, shorter than what is read to see the key whole.
    assert kept(b"y" * (LIMIT + 3)) == "y" * LIMIT + TRUNCATED_NOTE


def test_an_empty_key_redacts_nothing():
    assert kept(b"hello\n", key=b"") == "hello\n"
