"""Request bodies refuse what no internal service could take."""

import pytest
from pydantic import ValidationError

from services.gateway.schemas import LogInBody, RefreshBody, SignUpBody, StoreKeyBody


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (LogInBody, {"email": "a@b.co", "password": "\ud800aaaaaaaaaaaa"}),
        (SignUpBody, {"email": "a\ud800@b.co", "password": "long enough password"}),
        (RefreshBody, {"refresh_token": "\udfff"}),
        (StoreKeyBody, {"provider": "openai", "label": "x", "secret": "sk-\ud800-abcdef"}),
        (StoreKeyBody, {"provider": "openai", "label": "x\x00y", "secret": "sk-abcdefgh"}),
    ],
)
def test_lone_surrogates_and_nul_are_refused(model, fields):
    with pytest.raises(ValidationError) as refused:
        model(**fields)
    [error] = refused.value.errors()
    assert error["msg"] in (
        "Value error, must be valid Unicode text",
        "Value error, must not contain NUL characters",
    )


def test_ordinary_unicode_is_accepted():
    body = StoreKeyBody(provider="openai", label="clé de prod ✓", secret="sk-ünïcödé-1234")
    assert body.label == "clé de prod ✓"
