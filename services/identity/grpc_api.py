"""The Identity gRPC service: turns requests into calls on Accounts."""

import json
from datetime import UTC, datetime

import grpc

from services.common.emails import InvalidEmailError
from services.common.mtls import allow_callers
from services.contracts import identity_pb2, identity_pb2_grpc
from services.identity.accounts import (
    Accounts,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
)
from services.identity.passwords import MAX_LENGTH, WeakPasswordError
from services.identity.signing import SigningKey
from services.identity.store import EmailTakenError


def _token_pair(issued) -> identity_pb2.TokenPair:
    return identity_pb2.TokenPair(
        access_token=issued.access_token,
        token_type="Bearer",  # noqa: S106 (the scheme name, not a secret)
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
    )


class IdentityServicer(identity_pb2_grpc.IdentityServicer):
    def __init__(self, accounts: Accounts, signing_key: SigningKey):
        self._accounts = accounts
        self._jwks_json = json.dumps(signing_key.jwks())

    @allow_callers("gateway")
    async def SignUp(self, request, context):
        try:
            user_id, email = await self._accounts.sign_up(
                email=request.email, password=request.password
            )
        except (InvalidEmailError, WeakPasswordError) as invalid:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(invalid))
        except EmailTakenError:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, "an account with this email exists")
        return identity_pb2.SignUpResponse(user_id=str(user_id), email=email)

    @allow_callers("gateway")
    async def LogIn(self, request, context):
        if len(request.password) > MAX_LENGTH:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid email or password")
        try:
            issued = await self._accounts.log_in(
                email=request.email, password=request.password, now=datetime.now(UTC)
            )
        except InvalidCredentialsError:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid email or password")
        return _token_pair(issued)

    @allow_callers("gateway")
    async def Refresh(self, request, context):
        try:
            issued = await self._accounts.refresh(
                refresh_token=request.refresh_token, now=datetime.now(UTC)
            )
        except InvalidRefreshTokenError:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid refresh token")
        return _token_pair(issued)

    @allow_callers("gateway")
    async def GetSigningKeys(self, request, context):
        return identity_pb2.SigningKeys(jwks_json=self._jwks_json)
