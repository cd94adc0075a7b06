//! The single mapping from errors to HTTP responses:
//! `{"code": <gRPC code>, "message": "...", "details": []}` with a matching status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use twofold_core::{Error, ErrorCode};

/// An error on its way to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain error.
    #[error(transparent)]
    Core(#[from] Error),
    /// The body exceeds the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body did not arrive in time.
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout {
        /// The limit, seconds.
        secs: u64,
    },
    /// No route.
    #[error("no endpoint {0}; see /public/v1/submit/* and /public/v1/query/*")]
    NoRoute(String),
    /// Wrong method.
    #[error("method {0} is not allowed; every endpoint takes POST with a JSON body")]
    MethodNotAllowed(String),
}

impl ApiError {
    /// The HTTP status a domain error is answered with.
    pub(crate) fn status_of(e: &Error) -> StatusCode {
        Self::core_status(e.code())
    }

    fn core_status(code: ErrorCode) -> StatusCode {
        match code {
            ErrorCode::InvalidArgument | ErrorCode::FailedPrecondition => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::AlreadyExists => StatusCode::CONFLICT,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorCode::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn status_and_code(&self) -> (StatusCode, i32) {
        match self {
            ApiError::Core(e) => {
                let code = e.code();
                (Self::core_status(code), code as i32)
            }
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ResourceExhausted as i32),
            ApiError::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, ErrorCode::InvalidArgument as i32),
            ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound as i32),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidArgument as i32),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() {
            // Details stay in the log; the client gets the request id (X-Request-Id) to quote.
            tracing::error!(error = %self, "internal error");
            "internal error; quote the X-Request-Id response header when reporting it".to_owned()
        } else {
            self.to_string()
        };
        let retry_after = match &self {
            ApiError::Core(Error::RateLimited { retry_after_secs, .. }) => Some(retry_after_secs.max(&1).to_string()),
            _ => None,
        };
        let details = match &self {
            ApiError::Core(e) if !status.is_server_error() => e.details(),
            _ => Vec::new(),
        };
        let mut response =
            (status, Json(json!({ "code": code, "message": message, "details": details }))).into_response();
        if let Some(secs) = retry_after.and_then(|s| axum::http::HeaderValue::from_str(&s).ok()) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs);
        }
        if let ApiError::PayloadTooLarge { .. } | ApiError::BodyTimeout { .. } = self {
            // The body was refused unread, so this connection cannot carry another request:
            // say so, or a client that pools connections sends its next request into a
            // connection the server is closing.
            response
                .headers_mut()
                .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        }
        response
    }
}
