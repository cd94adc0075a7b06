//! The one extractor every API handler uses: the stamp and the exact body bytes,
//! read under the configured size limit.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::Method;
use twofold_core::{Error, StampProof};

use crate::error::ApiError;
use crate::routes::ServerLimits;
use crate::stamp::{self, STAMP_HEADER, WEBAUTHN_STAMP_HEADER};

/// A stamped request: the parsed stamp and the body bytes it signs.
pub struct Stamped {
    /// The parsed `X-Stamp`.
    pub stamp: StampProof,
    /// The exact body bytes.
    pub body: Bytes,
}

impl<S> FromRequest<S> for Stamped
where
    S: Send + Sync,
    ServerLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed(req.method().to_string()));
        }
        let limits = ServerLimits::from_ref(state);
        let headers = req.headers();
        let stamp = match (headers.get(STAMP_HEADER), headers.get(WEBAUTHN_STAMP_HEADER)) {
            (Some(v), _) => stamp::parse(v.as_bytes())?,
            (None, Some(_)) => {
                return Err(Error::Unauthenticated(
                    "passkey stamps (X-Stamp-Webauthn) are not enabled on this server; stamp with an API key (X-Stamp)"
                        .to_owned(),
                )
                .into());
            }
            (None, None) => {
                return Err(
                    Error::Unauthenticated("missing X-Stamp header: every request must be stamped".to_owned()).into()
                );
            }
        };
        if let Some(len) = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && len > limits.max_body_bytes
        {
            return Err(ApiError::PayloadTooLarge { limit: limits.max_body_bytes });
        }
        let body = axum::body::to_bytes(req.into_body(), limits.max_body_bytes)
            .await
            .map_err(|_| ApiError::PayloadTooLarge { limit: limits.max_body_bytes })?;
        Ok(Stamped { stamp, body })
    }
}
