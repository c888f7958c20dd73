"""The OpenAPI document the gateway serves describes the errors it really sends."""

from services.gateway.app import GatewaySettings, create_api

ERROR_SCHEMA_REF = "#/components/schemas/ErrorOut"


def test_every_operation_documents_the_one_error_shape():
    document = create_api(GatewaySettings()).openapi()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert operations
    for operation in operations:
        responses = operation["responses"]
        # FastAPI's own 422 body ({"detail": [...]}) is never sent, so never documented.
        assert "422" not in responses
        for status in ("4XX", "5XX"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_SCHEMA_REF}
    error = document["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
