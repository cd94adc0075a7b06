//! The crate's one error type.

/// Everything that can go wrong inside the enclave, by the caller's point of view.
///
/// Messages never contain a code, a key or a decrypted plaintext.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing, out of range or malformed (the caller's fault).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The client's encrypted OTP bundle is not the JSON/hex/HPKE shape `@turnkey/crypto` produces.
    #[error("malformed encrypted OTP bundle: {0}")]
    Bundle(String),
    /// The sealed OTP state does not open: tampered, for another OTP/organization, or under an unknown key.
    #[error("sealed OTP state rejected: {0}")]
    SealedState(String),
    /// A verification token is malformed, forged or expired.
    #[error("verification token rejected: {0}")]
    Token(String),
    /// A message could not be handed to the mail server, SMS webhook or outbox.
    #[error("delivery failed: {0}")]
    Delivery(String),
    /// The enclave key file is unreadable, malformed or has unsafe permissions.
    #[error("enclave key file: {0}")]
    Keys(String),
    /// The enclave socket protocol was violated (version mismatch, oversized or garbled message).
    #[error("enclave protocol: {0}")]
    Protocol(String),
    /// Something inside the enclave failed that the caller cannot fix (randomness, crypto, a lost task).
    #[error("enclave internal error: {0}")]
    Internal(String),
    /// Local file or socket I/O.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The crate-wide result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The stable wire name of the error's kind (used by the socket protocol).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "invalid_input",
            Error::Bundle(_) => "bundle",
            Error::SealedState(_) => "sealed_state",
            Error::Token(_) => "token",
            Error::Delivery(_) => "delivery",
            Error::Keys(_) => "keys",
            Error::Protocol(_) => "protocol",
            Error::Internal(_) | Error::Io(_) => "internal",
        }
    }

    /// The message without the kind prefix (what travels over the socket).
    pub fn detail(&self) -> String {
        match self {
            Error::InvalidInput(m)
            | Error::Bundle(m)
            | Error::SealedState(m)
            | Error::Token(m)
            | Error::Delivery(m)
            | Error::Keys(m)
            | Error::Protocol(m)
            | Error::Internal(m) => m.clone(),
            Error::Io(e) => e.to_string(),
        }
    }

    /// Rebuilds an error received over the socket from its kind and detail.
    pub fn from_wire(kind: &str, detail: String) -> Self {
        match kind {
            "invalid_input" => Error::InvalidInput(detail),
            "bundle" => Error::Bundle(detail),
            "sealed_state" => Error::SealedState(detail),
            "token" => Error::Token(detail),
            "delivery" => Error::Delivery(detail),
            "keys" => Error::Keys(detail),
            "protocol" => Error::Protocol(detail),
            _ => Error::Internal(detail),
        }
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Internal(format!("no system randomness: {e}")))
}
