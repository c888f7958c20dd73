"""The one spelling of an email address that names an account.

Identity stores accounts under it and the gateway counts log-in attempts under
it, so every way of writing the same address (upper case, full-width letters,
a Unicode domain) is the same account and the same rate-limit counter.
"""

import unicodedata

import email_validator

MAX_EMAIL_LENGTH = 254


class InvalidEmailError(ValueError):
    """The text is not an email address (the message echoes none of it)."""


def normalize_email(email: str) -> str:
    """The account's canonical address; raises InvalidEmailError.

    NFKC folds compatibility look-alikes (full-width ``ｅ`` is ``e``) before
    validation, in the local part as well as the domain, so that they cannot
    make a second account or a fresh rate-limit counter.
    """
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmailError("email is too long")
    folded = unicodedata.normalize("NFKC", email)
    try:
        checked = email_validator.validate_email(folded, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise InvalidEmailError("email is not a valid address") from None
    return checked.normalized.lower()
