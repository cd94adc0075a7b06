//! The OpenAPI 3.1 document at `/openapi.json`, generated from the code: one operation
//! per submit endpoint of [`KINDS`] (its accepted types and the intent's schema, derived
//! by `utoipa` from the very structs the engine parses), one per query endpoint, the
//! console and every other route the router registers from [`FIXED_ROUTES`].

use axum::Json;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};
use twofold_core::activities::{ActivityKind, KINDS};
use twofold_core::engine::ProxyFlow;
use twofold_core::queries::{self, NoFields, QueryRow, Reads, WhenOverdue};
use utoipa::ToSchema;
use utoipa::openapi::ComponentsBuilder;

use crate::metrics::{QUERY_PREFIX, SUBMIT_PREFIX};
use crate::routes::AppState;

/// A `GET` route outside the submit/query families and the console.
pub(crate) struct FixedRoute {
    /// The path.
    pub path: &'static str,
    /// One line for the document.
    pub summary: &'static str,
    /// The document's tag.
    pub tag: &'static str,
    /// What it answers.
    pub content_type: &'static str,
    /// Its handler.
    pub route: fn() -> MethodRouter<AppState>,
}

/// Every such route: the router registers exactly these and the document lists exactly these.
pub(crate) const FIXED_ROUTES: &[FixedRoute] = &[
    FixedRoute {
        path: "/healthz",
        summary: "Liveness: the process is up",
        tag: "operations",
        content_type: JSON,
        route: || get(crate::ops::healthz),
    },
    FixedRoute {
        path: "/readyz",
        summary: "Readiness: the database and the OTP enclave answer (503 otherwise)",
        tag: "operations",
        content_type: JSON,
        route: || get(crate::ops::readyz),
    },
    FixedRoute {
        path: "/metrics",
        summary: "Prometheus metrics (OpenMetrics text); needs a bearer token when one is configured",
        tag: "operations",
        content_type: "application/openmetrics-text",
        route: || get(crate::metrics::serve),
    },
    FixedRoute {
        path: "/openapi.json",
        summary: "This document",
        tag: "operations",
        content_type: JSON,
        route: || get(openapi_json),
    },
    FixedRoute {
        path: "/docs",
        summary: "A page that renders this document",
        tag: "operations",
        content_type: HTML,
        route: || get(crate::console::docs_page),
    },
    FixedRoute {
        path: "/docs/docs.js",
        summary: "The script of the documentation page",
        tag: "operations",
        content_type: JS,
        route: || get(crate::console::docs_js),
    },
    FixedRoute {
        path: "/passkey",
        summary: "Passkey registration page",
        tag: "pages",
        content_type: HTML,
        route: || get(crate::routes::passkey_page),
    },
    FixedRoute {
        path: "/assets/webauthn.js",
        summary: "WebAuthn helper script",
        tag: "pages",
        content_type: JS,
        route: || get(crate::routes::webauthn_js),
    },
];

const JSON: &str = "application/json";
const HTML: &str = "text/html";
const JS: &str = "text/javascript";

async fn openapi_json() -> Response {
    Json(document()).into_response()
}

/// Registers `T` (and every schema it refers to) and names it.
fn add<T: ToSchema>(components: ComponentsBuilder) -> (ComponentsBuilder, String) {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    (components.schema_from::<T>().schemas_from_iter(nested), T::name().into_owned())
}

/// Every stamp header; a request carries exactly one of them.
const STAMPS: &[(&str, &str, &str)] = &[
    ("stamp", "X-Stamp", "API key (P-256 or Ed25519) signature over the exact body bytes"),
    ("webauthnStamp", "X-Stamp-Webauthn", "Passkey assertion whose challenge is the body's SHA-256"),
    ("attestedStamp", "X-Stamp-Attested", "Verification-token key signature (OTP login flows)"),
];

fn error_responses() -> Value {
    json!({ "default": {
        "description": "An error: 400 invalid, 401 unauthenticated, 403 denied, 404 not found, 409 conflict, \
                        413 too large, 429 rate limited (with Retry-After), 500 internal",
        "content": { JSON: { "schema": { "$ref": "#/components/schemas/Error" } } }
    }})
}

fn json_ok(description: &str) -> Value {
    json!({ "description": description, "content": { JSON: { "schema": { "type": "object" } } } })
}

fn stamped(mut operation: Value) -> Value {
    operation["security"] = STAMPS.iter().map(|(name, _, _)| json!({ *name: [] })).collect();
    let mut responses = error_responses();
    if let (Some(all), Some(ok)) = (responses.as_object_mut(), operation["responses"].as_object()) {
        all.extend(ok.clone());
    }
    operation["responses"] = responses;
    operation
}

fn submit_operation(kind: &ActivityKind, types: Vec<&str>, intent: &str) -> Value {
    let path = kind.path;
    let answer = activity_schema_name(path);
    let note = if kind.root_only { " Only the root quorum may approve it." } else { "" };
    stamped(json!({
        "operationId": format!("submit_{path}"),
        "tags": ["activities"],
        "summary": format!("Submit {}", types.first().copied().unwrap_or(path)),
        "description": format!(
            "Accepted types, newest first: {}. Policies see activity.resource {} and activity.action {}.{note}",
            types.join(", "),
            kind.resource,
            kind.action
        ),
        "requestBody": { "required": true, "content": { JSON: { "schema": {
            "type": "object",
            "required": ["type", "timestampMs", "organizationId", "parameters"],
            "properties": {
                "type": { "type": "string", "enum": types },
                "timestampMs": { "type": "string", "pattern": "^[0-9]{1,16}$",
                                 "description": "Milliseconds since the epoch, within the server's window" },
                "organizationId": { "type": "string" },
                "parameters": { "$ref": format!("#/components/schemas/{intent}") }
            }
        }}}},
        "responses": { "200": {
            "description": "The activity (v1Activity), whatever its status",
            "content": { JSON: { "schema": {
                "type": "object", "required": ["activity"],
                "properties": { "activity": { "$ref": format!("#/components/schemas/{answer}") } }
            }}}
        }}
    }))
}

/// The component describing a submit endpoint's activity: `create_users` -> `CreateUsersActivity`.
fn activity_schema_name(path: &str) -> String {
    let camel: String = path
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    format!("{camel}Activity")
}

/// What one submit endpoint answers, per row: its result keys, the result type, and what it
/// shows once beside the result.
struct Answer {
    path: &'static str,
    result_keys: Vec<&'static str>,
    result: String,
    shown: Option<String>,
}

/// `ActivityView` with its `result` typed for each submit endpoint: `{}` while pending or
/// failed, else the row's result key holding the result type, plus (in the answer that
/// made them only) the fields shown once.
fn typed_activities(schemas: &mut Map<String, Value>, answers: &[Answer]) {
    let Some(view) = schemas.get("ActivityView").cloned() else { return };
    for answer in answers {
        let mut result = schemas.get(&answer.result).cloned().unwrap_or_else(|| json!({ "type": "object" }));
        if result.get("properties").is_none() {
            result["properties"] = json!({});
        }
        if let Some(shown) = answer.shown.as_ref().and_then(|s| schemas.get(s)) {
            let extra = shown["properties"].as_object().cloned().unwrap_or_default();
            if let Some(props) = result["properties"].as_object_mut() {
                props.extend(extra);
            }
            let note = "; the fields shown once are in the answer to the request that made them, never stored";
            result["description"] = json!(format!("{}{note}", result["description"].as_str().unwrap_or("The result")));
        }
        let keys: Map<String, Value> = answer.result_keys.iter().map(|k| ((*k).to_owned(), result.clone())).collect();
        let mut activity = view.clone();
        activity["properties"]["result"] = json!({
            "type": "object", "properties": keys, "maxProperties": 1,
            "description": "`{}` until the activity completes, then its result under the type's result key"
        });
        schemas.insert(activity_schema_name(answer.path), activity);
    }
}

/// `organizationId` and the query's own fields (just the former for a query of none).
fn request_schema(request: &str) -> Value {
    let organization = json!({ "$ref": "#/components/schemas/QueryRequest" });
    if request == NoFields::name() {
        return organization;
    }
    json!({ "allOf": [organization, { "$ref": format!("#/components/schemas/{request}") }] })
}

fn query_operation(row: &QueryRow, request: &str, response: &str) -> Value {
    let overdue = match row.when_overdue {
        WhenOverdue::Refused => "",
        WhenOverdue::Allowed => " Open after an MFA enrolment grace period ends.",
        WhenOverdue::OwnUser => " Open about one's own user after an MFA enrolment grace period ends.",
        WhenOverdue::OwnFactors | WhenOverdue::Enrols => {
            " Open about one's own factors after an MFA enrolment grace period ends."
        }
    };
    let scope = match row.reads {
        Reads::Session => " Any session may make it, whatever its profile's scope.".to_owned(),
        Reads::Of(resource) => format!(" A scoped session's profile must allow resource {resource}, action READ."),
        Reads::OwnUserOr(resource) => format!(
            " About one's own user any session may make it; otherwise a scoped session's profile must allow \
             resource {resource}, action READ."
        ),
    };
    stamped(json!({
        "operationId": format!("query_{}", row.name),
        "tags": ["queries"],
        "summary": row.summary,
        "description": format!("Query {}.{overdue}{scope}", row.name),
        "requestBody": { "required": true, "content": { JSON: { "schema": request_schema(request) }}},
        "responses": { "200": {
            "description": row.summary,
            "content": { JSON: { "schema": { "$ref": format!("#/components/schemas/{response}") } } }
        }}
    }))
}

fn get_operation(id: &str, tag: &str, summary: &str, content_type: &str) -> Value {
    let schema = if content_type == JSON { json!({ "type": "object" }) } else { json!({ "type": "string" }) };
    let mut responses = json!({ "200": { "description": summary, "content": { content_type: { "schema": schema } } } });
    if id == "/metrics" {
        responses["401"] = json!({ "description": "A metrics token is configured and was not offered" });
    } else if id == "/readyz" {
        responses["503"] = json!({ "description": "The database or the enclave is unreachable",
                                   "content": { JSON: { "schema": { "type": "object" } } } });
    }
    json!({ "get": {
        "operationId": format!("get_{}", operation_suffix(id)),
        "tags": [tag], "summary": summary, "responses": responses
    }})
}

/// `/console/js/app.js` → `console_js_app_js`; `/` → `root`.
fn operation_suffix(path: &str) -> String {
    let s: String = path.trim_matches('/').chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if s.is_empty() { "root".to_owned() } else { s }
}

/// Every path the router serves, from the same tables the router is built from.
pub fn served_paths() -> Vec<String> {
    let mut paths: Vec<String> = KINDS.iter().map(|k| format!("{SUBMIT_PREFIX}{}", k.path)).collect();
    paths.extend(twofold_core::query_paths().iter().map(|q| format!("{QUERY_PREFIX}{q}")));
    paths.extend(FIXED_ROUTES.iter().map(|r| r.path.to_owned()));
    paths.extend(crate::console::PAGES.iter().map(|p| (*p).to_owned()));
    paths.extend(crate::console::asset_paths());
    paths.push(AUTH_PROXY_KEYS.to_owned());
    paths.extend(ProxyFlow::ALL.iter().map(|f| format!("{AUTH_PROXY_PREFIX}{}", f.path())));
    paths
}

/// Where the auth proxy's unauthenticated flows are served.
pub(crate) const AUTH_PROXY_PREFIX: &str = "/auth-proxy/v1/";
/// The enclave key the browser pins, through the auth proxy.
pub(crate) const AUTH_PROXY_KEYS: &str = "/auth-proxy/v1/enclave_keys";

fn proxy_operation(flow: ProxyFlow) -> Value {
    let (body, parameters) = if flow.by_config() {
        let header = json!([{ "name": "X-Auth-Proxy-Config-ID", "in": "header", "required": true,
            "schema": { "type": "string" },
            "description": "The auth proxy configuration (get_auth_proxy_config's configId), as @turnkey/core sends it" }]);
        (
            json!({ "type": "object", "description": "The flow's fields, as @turnkey/core sends them (docs/API.md, Auth proxy)" }),
            header,
        )
    } else {
        let body = json!({ "type": "object", "required": ["organizationId"],
            "properties": { "organizationId": { "type": "string" } },
            "description": "The organization, and the flow's fields (docs/API.md, Auth proxy)" });
        (body, json!([]))
    };
    json!({ "post": {
        "operationId": format!("auth_proxy_{}", flow.path()),
        "tags": ["auth proxy"],
        "summary": format!("Auth proxy: {} (no stamp; for organizations that enabled the proxy)", flow.path()),
        "parameters": parameters,
        "requestBody": { "required": true, "content": { JSON: { "schema": body }}},
        "responses": { "200": json_ok("The flow's answer"), "default": error_responses()["default"] }
    }, "options": {
        "operationId": format!("auth_proxy_{}_preflight", flow.path()),
        "tags": ["auth proxy"],
        "summary": "CORS preflight: answered for an origin some organization lists in allowedOrigins; the POST \
                    itself checks the page's origin against its organization's list",
        "responses": { "204": { "description": "For a listed origin: Access-Control-Allow-Origin (the request's \
                                                Origin), -Methods: POST, -Headers: content-type, \
                                                x-auth-proxy-config-id, x-captcha-token, x-client-version, \
                                                -Max-Age: 600; for any other origin none of them" } }
    }})
}

/// The whole document.
pub fn document() -> Value {
    let mut components = ComponentsBuilder::new();
    let mut paths = Map::new();
    let mut answers = Vec::new();
    for kind in KINDS {
        let (c, intent) = kind.operation.intent_schema(components);
        let (c, result) = kind.operation.result_schema(c);
        let (c, shown) = kind.operation.shown_schema(c);
        components = c;
        let mut result_keys: Vec<&str> = kind.versions.iter().map(|v| v.result_key).collect();
        result_keys.dedup();
        answers.push(Answer { path: kind.path, result_keys, result, shown });
        let types = kind.versions.iter().map(|v| v.type_name).collect();
        paths
            .insert(format!("{SUBMIT_PREFIX}{}", kind.path), json!({ "post": submit_operation(kind, types, &intent) }));
    }
    for row in queries::rows() {
        let (c, request, response) = (row.schemas)(components);
        components = c;
        paths.insert(
            format!("{QUERY_PREFIX}{}", row.name),
            json!({ "post": query_operation(row, &request, &response) }),
        );
    }
    for r in FIXED_ROUTES {
        paths.insert(r.path.to_owned(), get_operation(r.path, r.tag, r.summary, r.content_type));
    }
    for page in crate::console::PAGES {
        paths.insert((*page).to_owned(), get_operation(page, "console", "Console page", HTML));
    }
    for (path, content_type) in crate::console::asset_paths().into_iter().zip(crate::console::asset_types()) {
        paths.insert(path.clone(), get_operation(&path, "console", "Console asset", content_type));
    }
    let mut keys = get_operation(AUTH_PROXY_KEYS, "auth proxy", "The enclave's public keys, for clients to pin", JSON);
    keys["get"]["parameters"] = json!([{ "name": "organizationId", "in": "query", "required": false,
        "description": "A page of another origin may read the keys (CORS) when this organization lists its origin \
                        in allowedOrigins",
        "schema": { "type": "string" } }]);
    paths.insert(AUTH_PROXY_KEYS.to_owned(), keys);
    for flow in ProxyFlow::ALL {
        paths.insert(format!("{AUTH_PROXY_PREFIX}{}", flow.path()), proxy_operation(flow));
    }
    let (components, _) = add::<twofold_core::api::ActivityResponse>(components);
    let (components, _) = add::<twofold_core::error::ErrorInfo>(components);
    let mut schemas = serde_json::to_value(components.build()).unwrap_or_default()["schemas"].take();
    if let Some(map) = schemas.as_object_mut() {
        typed_activities(map, &answers);
        map.insert(
            "Error".to_owned(),
            json!({ "type": "object", "required": ["code", "message", "details"], "properties": {
                "code": { "type": "integer", "description": "gRPC status code" },
                "message": { "type": "string" },
                "details": { "type": "array", "items": { "$ref": "#/components/schemas/ErrorInfo" },
                             "description": "Empty, or a google.rpc.ErrorInfo naming a refusal a client acts on" }
            }}),
        );
        map.insert(
            "QueryRequest".to_owned(),
            json!({ "type": "object", "required": ["organizationId"],
                    "properties": { "organizationId": { "type": "string" } },
                    "description": "The organization; each query takes its own fields besides" }),
        );
    }
    let security_schemes: Map<String, Value> = STAMPS
        .iter()
        .map(|(name, header, what)| {
            ((*name).to_owned(), json!({ "type": "apiKey", "in": "header", "name": header, "description": what }))
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "twofold",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "MFA enforcement and authorization policies behind a Turnkey-compatible API. \
                            Every API endpoint is POST with a JSON body and exactly one stamp header.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "tags": [
            { "name": "activities", "description": "Activities: decided by policies, recorded, audited" },
            { "name": "queries", "description": "Read-only queries" },
            { "name": "operations", "description": "Health, readiness, metrics and this document" },
            { "name": "console", "description": "The web console" },
            { "name": "pages", "description": "Stand-alone pages and their scripts" },
            { "name": "auth proxy", "description": "Unauthenticated email-code sign-in for organizations that opted in" }
        ],
        "paths": paths,
        "components": { "schemas": schemas, "securitySchemes": security_schemes }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query index of docs/API.md, generated from the catalog and the schemas above: one
    /// line per query with its fields (`?` when optional), its answer's fields and its summary.
    fn query_index_markdown() -> String {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let name_of =
            |r: &Value| r["$ref"].as_str().unwrap_or("").trim_start_matches("#/components/schemas/").to_owned();
        let fields = |schema: &Value| -> Vec<String> {
            let required: Vec<&str> =
                schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            schema["properties"]
                .as_object()
                .map(|p| {
                    p.keys()
                        .map(|k| if required.contains(&k.as_str()) { format!("`{k}`") } else { format!("`{k}?`") })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut out = String::from(
            "| query | body (besides `organizationId`) | answer | scope reads | what |\n|---|---|---|---|---|\n",
        );
        for row in queries::rows() {
            let op = &doc["paths"][format!("{QUERY_PREFIX}{}", row.name)]["post"];
            let request = name_of(&op["requestBody"]["content"][JSON]["schema"]["allOf"][1]);
            let no_fields = Value::Null;
            let body_schema = if request.is_empty() { &no_fields } else { &schemas[&request] };
            let response = name_of(&op["responses"]["200"]["content"][JSON]["schema"]);
            let body = fields(body_schema);
            let answer = fields(&schemas[&response]);
            let reads = match row.reads {
                Reads::Session => "— (any session)".to_owned(),
                Reads::Of(resource) => format!("`{resource}`"),
                Reads::OwnUserOr(resource) => format!("`{resource}` (not for one's own user)"),
            };
            out.push_str(&format!(
                "| `{}` | {} | `{}` {{{}}} | {reads} | {} |\n",
                row.name,
                if body.is_empty() { "—".to_owned() } else { body.join(", ") },
                response,
                answer.join(", ").replace('`', ""),
                row.summary
            ));
        }
        out
    }

    /// docs/API.md's query index is the catalog's; `TWOFOLD_UPDATE_DOCS=1` rewrites it.
    #[test]
    fn the_query_index_in_api_md_is_generated_from_the_catalog() {
        const BEGIN: &str = "<!-- query index: generated from the catalog (crates/server/src/openapi.rs) -->\n";
        const END: &str = "<!-- end of query index -->";
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md");
        let text = std::fs::read_to_string(file).expect("docs/API.md");
        let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            panic!("docs/API.md lacks the query index markers");
        };
        let generated = query_index_markdown();
        if std::env::var("TWOFOLD_UPDATE_DOCS").is_ok_and(|v| v == "1") {
            let updated = format!("{}{generated}{}", &text[..start + BEGIN.len()], &text[end..]);
            std::fs::write(file, updated).expect("write docs/API.md");
            return;
        }
        assert_eq!(
            &text[start + BEGIN.len()..end],
            generated,
            "docs/API.md's query index is stale: run TWOFOLD_UPDATE_DOCS=1 cargo test -p twofold-server"
        );
    }

    /// Every API path documents a typed request and a typed answer: a schema with named
    /// properties, never a bare `{"type": "object"}`.
    #[test]
    fn every_api_path_has_typed_request_and_response_schemas() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let typed = |schema: &Value, what: &str| {
            let name = schema["$ref"].as_str().map(|r| r.trim_start_matches("#/components/schemas/"));
            let resolved = name.map_or(schema, |n| &schemas[n]);
            assert!(resolved["properties"].is_object(), "{what}: not a typed schema: {schema}");
        };
        for (path, item) in doc["paths"].as_object().expect("paths") {
            if !path.starts_with("/public/v1/") {
                continue;
            }
            let op = &item["post"];
            let body = &op["requestBody"]["content"][JSON]["schema"];
            match body["allOf"].as_array() {
                Some(parts) => parts.iter().for_each(|p| typed(p, &format!("{path} request"))),
                None => typed(body, &format!("{path} request")),
            }
            typed(&op["responses"]["200"]["content"][JSON]["schema"], &format!("{path} answer"));
            typed(&op["responses"]["default"]["content"][JSON]["schema"], &format!("{path} error"));
        }
    }

    #[test]
    fn every_path_the_router_serves_is_documented_once() {
        let doc = document();
        let documented = doc["paths"].as_object().expect("paths");
        let all = served_paths();
        for path in &all {
            assert!(documented.contains_key(path), "{path} is served but not documented");
        }
        assert_eq!(documented.len(), all.len(), "documented paths that are not served, or served twice");
    }

    #[test]
    fn every_intent_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().expect("name");
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
    }
}
