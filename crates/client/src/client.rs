//! A blocking HTTP client that stamps every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use twofold_core::activities;

use crate::key::ApiKeyPair;
use crate::{ClientError, Result};

/// A response: HTTP status and JSON body (or the raw text when it is not JSON).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Parsed body; a JSON string holding the text if the body was not JSON.
    pub body: Value,
    /// Response headers, names in lowercase.
    pub headers: Vec<(String, String)>,
}

impl ApiResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A client bound to one server, key and organization.
pub struct Client {
    base_url: String,
    key: ApiKeyPair,
    organization_id: String,
    agent: ureq::Agent,
    /// Added to the local clock when stamping `timestampMs` (for servers on a test clock).
    clock_offset_ms: Arc<AtomicI64>,
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`), acting in `organization_id`.
    pub fn new(base_url: &str, key: ApiKeyPair, organization_id: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            organization_id: organization_id.to_owned(),
            agent,
            clock_offset_ms: Arc::default(),
        }
    }

    /// Stamps `timestampMs` with the local clock plus this shared offset (ms), to talk
    /// to a server whose clock a test has moved.
    pub fn with_clock_offset(mut self, offset_ms: Arc<AtomicI64>) -> Self {
        self.clock_offset_ms = offset_ms;
        self
    }

    /// The organization requests act in.
    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }

    /// The key that stamps requests.
    pub fn key(&self) -> &ApiKeyPair {
        &self.key
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Posts `body` exactly as given to `path`, stamped with this client's key.
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Result<ApiResponse> {
        self.post_with_headers(path, body, &[("X-Stamp", self.key.stamp(body))])
    }

    /// Posts `body` to `path` with exactly the given extra headers (no stamp added).
    pub fn post_with_headers(&self, path: &str, body: &[u8], headers: &[(&str, String)]) -> Result<ApiResponse> {
        let url = format!("{}{}", self.base_url, path);
        let mut req = self.agent.post(&url).header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let mut resp =
            req.send(body).map_err(|e| ClientError::Transport { url: url.clone(), message: e.to_string() })?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
            .collect();
        let text =
            resp.body_mut().read_to_string().map_err(|e| ClientError::Transport { url, message: e.to_string() })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(ApiResponse { status, body, headers })
    }

    /// Runs query `name` (`/public/v1/query/<name>`); fills `organizationId` if absent.
    pub fn query(&self, name: &str, params: Value) -> Result<ApiResponse> {
        let body = self.query_body(params)?;
        self.post_raw(&format!("/public/v1/query/{name}"), body.to_string().as_bytes())
    }

    /// Submits activity `name` (`/public/v1/submit/<name>`) with `parameters`; fills
    /// `type` (the newest version), `timestampMs` and `organizationId`.
    pub fn submit(&self, name: &str, parameters: Value) -> Result<ApiResponse> {
        let body = self.submit_body(name, serde_json::json!({ "parameters": parameters }))?;
        self.post_raw(&format!("/public/v1/submit/{name}"), body.to_string().as_bytes())
    }

    /// Completes a query body: adds `organizationId` unless present.
    pub fn query_body(&self, body: Value) -> Result<Value> {
        let mut obj = as_object(body)?;
        obj.entry("organizationId").or_insert_with(|| Value::String(self.organization_id.clone()));
        Ok(Value::Object(obj))
    }

    /// Completes a submit body: adds `type`, `timestampMs`, `organizationId` and
    /// `parameters` unless present.
    pub fn submit_body(&self, name: &str, body: Value) -> Result<Value> {
        let mut obj = as_object(body)?;
        if !obj.contains_key("type") {
            let kind = activities::kind_for_path(name).ok_or_else(|| {
                ClientError::Request(format!("unknown submit endpoint `{name}`; pass \"type\" in the body"))
            })?;
            let newest = kind.versions.first().map(|v| v.type_name).unwrap_or_default();
            obj.insert("type".into(), Value::String(newest.to_owned()));
        }
        let now =
            i64::try_from(now_ms()).unwrap_or(i64::MAX).saturating_add(self.clock_offset_ms.load(Ordering::SeqCst));
        obj.entry("timestampMs").or_insert_with(|| Value::String(now.to_string()));
        obj.entry("organizationId").or_insert_with(|| Value::String(self.organization_id.clone()));
        obj.entry("parameters").or_insert_with(|| Value::Object(Map::new()));
        Ok(Value::Object(obj))
    }
}

fn as_object(v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ClientError::Request(format!("request body must be a JSON object, found {other}"))),
    }
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}
