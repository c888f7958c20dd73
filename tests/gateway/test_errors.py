"""Validation errors become messages that name the field and the rule, not the value."""

import uuid

import pytest
from pydantic import BaseModel, ValidationError

from services.gateway.errors import _describe_validation_error
from services.gateway.schemas import StoreKeyBody


class _WithUuid(BaseModel):
    key_id: uuid.UUID


def _errors_of(model, **fields) -> list[dict]:
    with pytest.raises(ValidationError) as refused:
        model(**fields)
    # FastAPI puts "body" first in loc; do the same.
    return [{**error, "loc": ("body", *error["loc"])} for error in refused.value.errors()]


def test_a_parsers_own_error_text_is_left_out():
    [error] = _errors_of(_WithUuid, key_id="zebra-planted-value")
    assert "`z`" in error["msg"]  # pydantic's own text quotes the input...
    assert _describe_validation_error(error) == "key_id: invalid value"  # ...ours does not


def test_our_validators_messages_are_kept():
    [error] = _errors_of(StoreKeyBody, provider="openai", label="x\x00y", secret="sk-abcdefgh")
    assert (
        _describe_validation_error(error) == "label: Value error, must not contain NUL characters"
    )


def test_a_length_rule_is_named():
    [error] = _errors_of(StoreKeyBody, provider="openai", label="x" * 101, secret="sk-abcdefgh")
    assert _describe_validation_error(error) == "label: String should have at most 100 characters"


def test_an_unexpected_field_is_not_named():
    [error] = _errors_of(
        StoreKeyBody, provider="openai", label="x", secret="sk-abcdefgh", sk_planted_name="v"
    )
    assert _describe_validation_error(error) == "body: unexpected field"
