//! Fetches OIDC issuers' key sets (JWK sets) over HTTPS with `ureq`: bounded time and size, no
//! redirects. The URLs come only from `set_oidc_issuers`, which the root quorum alone can change.

use std::time::Duration;

use async_trait::async_trait;
use twofold_core::oidc::JwksFetcher;

/// Longest one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set read, in bytes.
const MAX_BODY: u64 = 64 * 1024;

/// The JWK set fetcher the server uses.
#[derive(Debug, Clone)]
pub struct HttpJwksFetcher {
    agent: ureq::Agent,
}

impl Default for HttpJwksFetcher {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        HttpJwksFetcher { agent: config.into() }
    }
}

#[async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, url: &str) -> Result<String, String> {
        let (agent, url) = (self.agent.clone(), url.to_owned());
        let task = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let mut resp = agent.get(&url).header("Accept", "application/json").call().map_err(|e| e.to_string())?;
            if resp.status() != 200 {
                return Err(format!("HTTP {}", resp.status()));
            }
            resp.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| e.to_string())
        });
        task.await.map_err(|e| e.to_string())?
    }
}
