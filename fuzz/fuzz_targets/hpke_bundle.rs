//! The enclave's parsing of what clients send it, against a live OTP flow: the
//! `encryptedOtpBundle` JSON (hex, P-256 point, HPKE open, the decrypted attempt), a
//! well-formed attempt carrying arbitrary code and key strings, sealed state, target
//! bundles (the client side) and verification tokens. The first byte picks the path.
//! Nothing may panic.
#![no_main]

use std::cell::RefCell;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use twofold_enclave::{
    Deliverer, Enclave, EnclaveConfig, EnclaveKeys, InitOtpRequest, InitOtpResponse, OtpType, SealedState,
    VerifyOtpRequest, VerifyOutcome,
};

const NOW_MS: u64 = 1_767_607_200_000;
const ORG: &str = "00000000-0000-4000-8000-0000000000aa";

struct Flow {
    enclave: Enclave,
    outbox: PathBuf,
    runtime: tokio::runtime::Runtime,
    init: InitOtpResponse,
    pinned: String,
}

impl Flow {
    fn new() -> Flow {
        let outbox = std::env::temp_dir().join(format!("twofold-fuzz-outbox-{}", std::process::id()));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let keys = EnclaveKeys::generate().expect("keys");
        let enclave =
            Enclave::new(keys, Deliverer::outbox(&outbox), EnclaveConfig { max_attempts: 100 }).expect("enclave");
        let pinned = enclave.public_keys().signing_public_key;
        let init = start(&runtime, &enclave, &outbox);
        Flow { enclave, outbox, runtime, init, pinned }
    }

    /// A new flow once this one is used up (the enclave's ledger remembers burned flows).
    fn renew(&mut self) {
        self.init = start(&self.runtime, &self.enclave, &self.outbox);
    }

    fn verify(
        &self,
        bundle: String,
        state: SealedState,
    ) -> twofold_enclave::Result<twofold_enclave::VerifyOtpResponse> {
        self.enclave.verify_otp(VerifyOtpRequest {
            otp_id: self.init.otp_id.clone(),
            organization_id: ORG.to_owned(),
            sealed_state: state,
            encrypted_otp_bundle: bundle,
            token_expiration_seconds: None,
            now_ms: NOW_MS,
        })
    }
}

fn start(runtime: &tokio::runtime::Runtime, enclave: &Enclave, outbox: &PathBuf) -> InitOtpResponse {
    let init = runtime
        .block_on(enclave.init_otp(InitOtpRequest {
            organization_id: ORG.to_owned(),
            otp_type: OtpType::Email,
            contact: "fuzz@example.com".to_owned(),
            app_name: "fuzz".to_owned(),
            otp_length: None,
            alphanumeric: None,
            expiration_seconds: None,
            email_customization: None,
            sms_template: None,
            now_ms: NOW_MS,
        }))
        .expect("init_otp");
    // Only the flow matters here, not the mail with its code.
    let _ = std::fs::remove_dir_all(outbox);
    init
}

thread_local! {
    static FLOW: RefCell<Option<Flow>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest).into_owned();
    FLOW.with(|cell| {
        let mut slot = cell.borrow_mut();
        let flow = slot.get_or_insert_with(Flow::new);
        let state = flow.init.sealed_state.clone();
        let outcome = match pick % 5 {
            // The client's encrypted attempt, as VERIFY_OTP_V2 passes it through.
            0 => flow.verify(text, state),
            // A well-formed attempt to the right key whose code and key are arbitrary strings.
            1 => {
                let (code, key) = text.split_once('\n').unwrap_or((&text, ""));
                match twofold_enclave::encrypt_otp_attempt(
                    &flow.init.otp_encryption_target_bundle,
                    &flow.pinned,
                    code,
                    key,
                ) {
                    Ok(bundle) => flow.verify(bundle, state),
                    Err(e) => panic!("encrypting to a genuine bundle fails: {e}"),
                }
            }
            // Sealed state that is not what the enclave sealed.
            2 => flow.verify("{}".to_owned(), SealedState::new(text)),
            // Target bundles, as a client checks them against the pinned key.
            3 => {
                let _ = twofold_enclave::verify_target_bundle(&text, &flow.pinned);
                return;
            }
            // Verification tokens, as approvals and X-Stamp-Attested carry them.
            _ => {
                let _ = flow.enclave.verify_verification_token(&text, NOW_MS);
                return;
            }
        };
        match outcome {
            Ok(resp) => {
                if matches!(
                    resp.outcome,
                    VerifyOutcome::Verified(_) | VerifyOutcome::Exhausted | VerifyOutcome::AlreadyUsed
                ) {
                    flow.renew();
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    });
});
