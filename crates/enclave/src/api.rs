//! The enclave's narrow interface, the same in-process and across the Unix socket.

use async_trait::async_trait;

use crate::error::Result;
use crate::jwt::VerificationClaims;
use crate::otp::{
    DeliverOtpRequest, Enclave, InitOtpRequest, InitOtpResponse, Notice, PublicKeys, VerifyOtpRequest,
    VerifyOtpResponse,
};

/// Everything the coordinator may ask of the enclave. Implemented by [`Enclave`] (in-process)
/// and [`crate::RemoteEnclave`] (a separate `twofold enclave` process).
#[async_trait]
pub trait EnclaveApi: Send + Sync {
    /// The enclave's public keys.
    async fn public_keys(&self) -> Result<PublicKeys>;
    /// Starts an OTP flow: generates a code and delivers it, unless the request defers that.
    async fn init_otp(&self, request: InitOtpRequest) -> Result<InitOtpResponse>;
    /// Delivers a deferred code from the flow's sealed state.
    async fn deliver_otp(&self, request: DeliverOtpRequest) -> Result<()>;
    /// Checks one encrypted attempt; persist the returned sealed state whatever the outcome.
    async fn verify_otp(&self, request: VerifyOtpRequest) -> Result<VerifyOtpResponse>;
    /// Checks a verification token (signature, shape, expiry at `now_ms`).
    async fn verify_token(&self, token: String, now_ms: u64) -> Result<VerificationClaims>;
    /// Sends a non-secret notice to a contact.
    async fn send_notice(&self, notice: Notice) -> Result<()>;
}

#[async_trait]
impl EnclaveApi for Enclave {
    async fn public_keys(&self) -> Result<PublicKeys> {
        Ok(Enclave::public_keys(self))
    }

    async fn init_otp(&self, request: InitOtpRequest) -> Result<InitOtpResponse> {
        Enclave::init_otp(self, request).await
    }

    async fn deliver_otp(&self, request: DeliverOtpRequest) -> Result<()> {
        Enclave::deliver_otp(self, request).await
    }

    async fn verify_otp(&self, request: VerifyOtpRequest) -> Result<VerifyOtpResponse> {
        Enclave::verify_otp(self, request)
    }

    async fn verify_token(&self, token: String, now_ms: u64) -> Result<VerificationClaims> {
        Enclave::verify_verification_token(self, &token, now_ms)
    }

    async fn send_notice(&self, notice: Notice) -> Result<()> {
        Enclave::send_notice(self, notice).await
    }
}
