"""/v1/auth: sign-up, log-in and token refresh."""

from fastapi import APIRouter, Depends, Request, Response

from services.contracts import identity_pb2
from services.gateway.clients import CALL_TIMEOUT_SECONDS, translated_errors
from services.gateway.errors import ApiError
from services.gateway.rate_limit import limit_by_client
from services.gateway.schemas import LogInBody, RefreshBody, SignUpBody, TokenPairOut, UserOut

# Every route here checks a secret someone could guess: all of them together
# are rate limited per client address, and failed log-ins also per account.
router = APIRouter(prefix="/v1/auth", tags=["auth"], dependencies=[Depends(limit_by_client)])


def _pair(reply, response: Response) -> TokenPairOut:
    # Tokens must not be kept by any cache along the way (RFC 6749, 5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return TokenPairOut(
        access_token=reply.access_token,
        token_type=reply.token_type,
        expires_in=reply.expires_in,
        refresh_token=reply.refresh_token,
    )


@router.post("/signup", status_code=201, response_model=UserOut)
async def sign_up(body: SignUpBody, request: Request):
    """Create an account. The password is stored only as an argon2id hash."""
    async with translated_errors("identity"):
        reply = await request.app.state.clients.identity.SignUp(
            identity_pb2.SignUpRequest(email=body.email, password=body.password.get_secret_value()),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return UserOut(user_id=reply.user_id, email=reply.email)


@router.post("/login", response_model=TokenPairOut)
async def log_in(body: LogInBody, request: Request, response: Response):
    """Exchange email and password for a one-hour access token and a refresh token."""
    limiter = request.app.state.rate_limiter
    await limiter.begin_login(body.email, request)
    try:
        async with translated_errors("identity"):
            reply = await request.app.state.clients.identity.LogIn(
                identity_pb2.LogInRequest(
                    email=body.email, password=body.password.get_secret_value()
                ),
                timeout=CALL_TIMEOUT_SECONDS,
            )
    except ApiError as refused:
        if refused.status == 401:
            await limiter.count_login_failure(body.email, request)
        raise
    await limiter.login_succeeded(body.email, request)
    return _pair(reply, response)


@router.post("/refresh", response_model=TokenPairOut)
async def refresh(body: RefreshBody, request: Request, response: Response):
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    async with translated_errors("identity"):
        reply = await request.app.state.clients.identity.Refresh(
            identity_pb2.RefreshRequest(refresh_token=body.refresh_token.get_secret_value()),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    return _pair(reply, response)
