//! Request bodies through exactly what the engine checks before it touches the store:
//! the envelope, the activity type for the endpoint, `Intent::parse` and the stateless
//! validation, for every submit endpoint; accepted intents must also yield the policy
//! view. The first byte picks the endpoint; the rest is the body. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_core::activity_types::KINDS;
use twofold_core::engine::check_submit_body;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let kind = &KINDS[usize::from(pick) % KINDS.len()];
    match check_submit_body(kind.path, body) {
        Ok(intent) => {
            // What policies and the pipeline read from an accepted intent.
            let _ = intent.policy_params().to_string();
            let _ = intent.resource_action();
            let _ = intent.own_credential_target();
            let _ = intent.changes_factors();
        }
        Err(e) => {
            // Every refusal is a client error with a message, never a bug.
            let _ = e.to_string();
            assert!(!matches!(e, twofold_core::Error::Internal(_)), "{}: {e}", kind.path);
        }
    }
});
