"""The canonical spelling of an account's email address."""

import pytest

from services.common.emails import InvalidEmailError, normalize_email


@pytest.mark.parametrize(
    "spelling",
    [
        "ada@example.com",
        "ADA@Example.COM",
        "ada@ｅxample.com",  # full-width e in the domain
        "ａｄａ@example.com",  # full-width local part
        "ada＠example.com",  # full-width at sign
    ],
)
def test_every_spelling_of_one_address_is_one_account(spelling):
    assert normalize_email(spelling) == "ada@example.com"


def test_a_distinct_letter_stays_distinct():
    assert normalize_email("adá@example.com") != normalize_email("ada@example.com")


@pytest.mark.parametrize("text", ["not-an-email", "a@", "@example.com", "a" * 250 + "@example.com"])
def test_non_addresses_are_refused_without_echoing_them(text):
    with pytest.raises(InvalidEmailError) as refused:
        normalize_email(text)
    assert text not in str(refused.value)
