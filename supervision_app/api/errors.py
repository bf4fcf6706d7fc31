"""One mapping from domain errors and validation failures to JSON error responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError

from services.errors import AuthenticationFailed, DatabaseBusy, DomainError, RateLimited

logger = logging.getLogger(__name__)


class BodyTooLarge(HTTPException):
    """The body grew past the limit while it arrived (chunked, or more than its
    Content-Length said). An HTTPException, so FastAPI's body reader lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"body: request body larger than {limit} bytes")


def body_too_large_response(error: BodyTooLarge) -> JSONResponse:
    return JSONResponse({"detail": error.detail, "field": "body"}, status_code=413)


def _body_too_large(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return body_too_large_response(exc)


def unexpected_error_response(error: Exception, request_id: str) -> JSONResponse:
    """Anything no handler knows: JSON like every other answer, with the request id to find
    the logged traceback by; never the exception's text."""
    logger.error("unexpected error (request %s)", request_id, exc_info=error)
    return JSONResponse(
        {"detail": "unexpected error; the request id is in the log", "request_id": request_id},
        status_code=500,
    )


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    body: dict[str, object] = {"detail": exc.message}
    if exc.field:
        body["field"] = exc.field
    body.update(exc.extra)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
    if isinstance(exc, RateLimited | DatabaseBusy):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        errors.append(
            {"field": ".".join(location) or "body", "message": error.get("msg", "invalid")}
        )
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    return JSONResponse(
        {
            "detail": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "errors": errors,
        },
        status_code=422,
    )


def _number_out_of_range(_request: Request, _exc: Exception) -> JSONResponse:
    # An id or number past 64 bits reaches the database driver, which cannot store it.
    return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)


def _value_not_storable(_request: Request, _exc: Exception) -> JSONResponse:
    # PostgreSQL is stricter than SQLite: a number past its column's type, or a NUL character
    # in text, is refused by the database itself. The transaction was rolled back.
    return JSONResponse(
        {
            "detail": "a value in the request is out of range or holds characters "
            "that cannot be stored"
        },
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(OverflowError, _number_out_of_range)
    app.add_exception_handler(DataError, _value_not_storable)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, and the field when one is to blame."""

    detail: str
    field: str | None = None
    errors: list[FieldError] | None = None


_ERROR_MEANINGS = {
    400: "the body is not valid JSON",
    401: "no valid sign-in or API key",
    403: "signed in, but not allowed to do this",
    404: "no such object (or not one you may see)",
    409: "not possible in the object's current state",
    413: "the body is larger than MAX_PAYLOAD_BYTES",
    422: "a field is invalid: `field` names it",
    429: "too many requests: see Retry-After",
    503: "the database was busy past DB_WRITE_WAIT_S: nothing was written, retry",
}
# What any route may answer besides its success: documented on every route, so clients (and
# the fuzz test's conformance checks) know every status they can meet.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": meaning}
    for status, meaning in _ERROR_MEANINGS.items()
}


def document_error_shape(app: FastAPI) -> None:
    """Make the OpenAPI document describe our 422 body instead of FastAPI's default one."""
    default_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in error_schema.pop("$defs", {}).items():
            components[name] = definition
        components["HTTPValidationError"] = error_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
