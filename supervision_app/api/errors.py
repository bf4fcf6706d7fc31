"""One mapping from domain errors and validation failures to JSON error responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.errors import AuthenticationFailed, DomainError, RateLimited


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    body: dict[str, object] = {"detail": exc.message}
    if exc.field:
        body["field"] = exc.field
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
    if isinstance(exc, RateLimited):
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
