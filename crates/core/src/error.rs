//! The domain error: what went wrong, in terms a client can act on.

/// gRPC-style status codes, as Turnkey's error bodies carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 3: the request is malformed or names something invalid.
    InvalidArgument = 3,
    /// 5: the named object does not exist (or is not visible to the caller).
    NotFound = 5,
    /// 6: the object already exists.
    AlreadyExists = 6,
    /// 7: the caller is known but may not do this.
    PermissionDenied = 7,
    /// 8: a limit was hit (size, rate).
    ResourceExhausted = 8,
    /// 9: the system is not in a state that allows this.
    FailedPrecondition = 9,
    /// 13: a bug or an unavailable dependency on our side.
    Internal = 13,
    /// 16: the request is not authenticated.
    Unauthenticated = 16,
}

/// Everything the domain layer can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message names the problem.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request could not be authenticated.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The named object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The object already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The current state does not allow this.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too many failed guesses: refused until `retry_after_secs` have passed.
    #[error("{message}")]
    RateLimited {
        /// What was refused and why.
        message: String,
        /// Seconds until a new attempt is allowed.
        retry_after_secs: u64,
    },
    /// A dependency on our side failed (random number generator, a sealed secret).
    #[error("{0}")]
    Internal(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tenant's MFA enforcement rule requires a second factor and the grace period is over.
    #[error("{message}")]
    MfaEnrollmentRequired {
        /// What was refused and where to enroll.
        message: String,
        /// When the grace period ended (RFC 3339).
        deadline: String,
    },
}

/// Storage failures, as the engine needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the message names it.
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached or failed; details are logged, not shown.
    #[error("database error: {0}")]
    Backend(String),
}

/// The console page a blocked user is sent to.
pub const SETUP_PATH: &str = "/security-clearance/setup-2fa";

/// The machine-readable name of the enrollment block, in error bodies.
pub const ENROLLMENT_REQUIRED: &str = "MFA_ENROLLMENT_REQUIRED";

impl Error {
    /// The gRPC-style code clients see for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Error::RateLimited { .. } => ErrorCode::ResourceExhausted,
            Error::Internal(_) => ErrorCode::Internal,
            Error::Store(StoreError::Conflict(_)) => ErrorCode::AlreadyExists,
            Error::Store(_) => ErrorCode::Internal,
            Error::MfaEnrollmentRequired { .. } => ErrorCode::PermissionDenied,
        }
    }

    /// The `details` of the error body: a `google.rpc.ErrorInfo` naming the refusal for
    /// errors a client acts on by name, else nothing.
    pub fn details(&self) -> Vec<ErrorInfo> {
        match self {
            Error::MfaEnrollmentRequired { deadline, .. } => vec![ErrorInfo {
                r#type: "type.googleapis.com/google.rpc.ErrorInfo",
                reason: ENROLLMENT_REQUIRED,
                domain: "twofold",
                metadata: ErrorMetadata { deadline: deadline.clone(), setup_path: SETUP_PATH },
            }],
            _ => Vec::new(),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// The domain layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
/// A `google.rpc.ErrorInfo` in an error body's `details`: a refusal a client acts on by name.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorInfo {
    /// `type.googleapis.com/google.rpc.ErrorInfo`.
    #[serde(rename = "@type")]
    pub r#type: &'static str,
    /// The refusal's name (`MFA_ENROLLMENT_REQUIRED`).
    pub reason: &'static str,
    /// `twofold`.
    pub domain: &'static str,
    /// What the client needs to act on it.
    pub metadata: ErrorMetadata,
}

/// [`ErrorInfo`]'s metadata for an enrolment refusal.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorMetadata {
    /// When the grace period ended (RFC 3339).
    pub deadline: String,
    /// The console page that enrols a factor.
    pub setup_path: &'static str,
}
