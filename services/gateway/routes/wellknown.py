"""Public, unauthenticated documents."""

from fastapi import APIRouter, Request

from services.gateway.clients import translated_errors

router = APIRouter(tags=["well-known"])


@router.get("/.well-known/jwks.json")
async def jwks(request: Request):
    """The public keys that verify AECARO access tokens."""
    async with translated_errors("identity"):
        return await request.app.state.token_verifier.jwks()


@router.get("/healthz")
async def health():
    return {"status": "ok"}
