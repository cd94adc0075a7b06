//! `twofold request <endpoint>`: a stamped request, like Turnkey's `tk request`.

use std::path::PathBuf;

use std::io::Write;

use clap::Args;
use serde_json::{Map, Value};
use twofold_client::{Client, KeyFile};

use crate::CliError;

/// Flags of `twofold request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Endpoint: `get_whoami`, `create_users`, `query/<name>`, `submit/<name>` or a full `/public/v1/...` path.
    endpoint: String,
    /// Full JSON body; missing `type`, `timestampMs`, `organizationId` are filled in.
    #[arg(long, value_name = "JSON", conflicts_with = "params")]
    body: Option<String>,
    /// JSON object of activity parameters (submit endpoints).
    #[arg(long, value_name = "JSON")]
    params: Option<String>,
    /// `key=value` (repeatable): a parameter for submits, a body field for queries.
    /// The value is parsed as JSON when it is valid JSON, else taken as a string.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    param: Vec<String>,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Where to send stamped requests and with which key.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server base URL.
    #[arg(long, env = "TWOFOLD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Key file that stamps the request [default: the root key of the database the server in
    /// DATA_DIR last served (DATA_DIR/serving.json), else DATA_DIR/root-api-key.json; DATA_DIR is
    /// TWOFOLD_DATA_DIR or twofold-data].
    #[arg(long, env = "TWOFOLD_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Organization to act in [default: the key file's organizationId].
    #[arg(long, env = "TWOFOLD_ORGANIZATION_ID")]
    organization_id: Option<String>,
}

impl ConnectArgs {
    /// A client stamped with the key file, acting in the chosen organization.
    pub fn client(&self) -> Result<Client, CliError> {
        let path = match &self.key_file {
            Some(path) => path.clone(),
            None => {
                let (path, note) = crate::serving::default_key_file();
                if let Some(note) = note {
                    eprintln!("{note}");
                }
                path
            }
        };
        let key_file = KeyFile::load(&path).map_err(|e| CliError::Usage(e.to_string()))?;
        let key = key_file.key_pair().map_err(|e| CliError::Usage(e.to_string()))?;
        let org = self.organization_id.clone().or(key_file.organization_id).ok_or_else(|| {
            CliError::Usage("no organization: pass --organization-id or use a key file that names one".into())
        })?;
        Ok(Client::new(&self.url, key, &org))
    }
}

enum Endpoint {
    Submit(String),
    Query(String),
}

fn classify(endpoint: &str) -> Result<Endpoint, CliError> {
    let e = endpoint.trim_start_matches('/');
    let e = e.strip_prefix("public/v1/").unwrap_or(e);
    if let Some(name) = e.strip_prefix("submit/") {
        return Ok(Endpoint::Submit(name.to_owned()));
    }
    if let Some(name) = e.strip_prefix("query/") {
        return Ok(Endpoint::Query(name.to_owned()));
    }
    if twofold_core::activities::kind_for_path(e).is_some() {
        return Ok(Endpoint::Submit(e.to_owned()));
    }
    if twofold_core::query_paths().contains(&e) {
        return Ok(Endpoint::Query(e.to_owned()));
    }
    Err(CliError::Usage(format!(
        "unknown endpoint `{endpoint}`; write submit/<name> or query/<name> to send it anyway"
    )))
}

fn parse_json(what: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| CliError::Usage(format!("{what} is not valid JSON: {e}")))
}

fn apply_params(target: &mut Map<String, Value>, params: &[String]) -> Result<(), CliError> {
    for p in params {
        let (k, v) = p.split_once('=').ok_or_else(|| CliError::Usage(format!("--param `{p}` must be KEY=VALUE")))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        target.insert(k.to_owned(), value);
    }
    Ok(())
}

/// Sends the request and prints the JSON response; a non-2xx answer exits 1, an unreachable
/// server 3, an activity that ended FAILED or REJECTED 4.
pub fn run(args: RequestArgs) -> Result<(), CliError> {
    let endpoint = classify(&args.endpoint)?;
    let client = args.connect.client()?;
    let mut body = match &args.body {
        Some(b) => parse_json("--body", b)?,
        None => Value::Object(Map::new()),
    };
    let (path, body) = match endpoint {
        Endpoint::Submit(name) => {
            if let Some(p) = &args.params {
                body["parameters"] = parse_json("--params", p)?;
            }
            let mut full = client.submit_body(&name, body).map_err(|e| CliError::Usage(e.to_string()))?;
            if let Some(Value::Object(params)) = full.get_mut("parameters") {
                apply_params(params, &args.param)?;
            }
            (format!("/public/v1/submit/{name}"), full)
        }
        Endpoint::Query(name) => {
            let mut full = client.query_body(body).map_err(|e| CliError::Usage(e.to_string()))?;
            if let Value::Object(obj) = &mut full {
                apply_params(obj, &args.param)?;
            }
            (format!("/public/v1/query/{name}"), full)
        }
    };
    let resp = client.post_raw(&path, body.to_string().as_bytes())?;
    let text = serde_json::to_string_pretty(&resp.body).unwrap_or_else(|_| resp.body.to_string());
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    if let Some(due) = resp.header("x-twofold-mfa-enrollment-due") {
        eprintln!(
            "twofold: this organization requires a second factor: enrol one by {due} (X-Twofold-MFA-Enrollment-Due; \
             the console's /mfa/setup, or create_totp_authenticator)"
        );
    }
    if !resp.is_success() {
        return Err(CliError::Remote(format!("the server answered HTTP {}", resp.status)));
    }
    ended(&resp.body)
}

/// `Err` when the answer is an activity that ended FAILED or REJECTED (exit 4).
fn ended(body: &Value) -> Result<(), CliError> {
    let activity = &body["activity"];
    match activity["status"].as_str() {
        Some(status @ ("ACTIVITY_STATUS_FAILED" | "ACTIVITY_STATUS_REJECTED")) => {
            Err(CliError::ActivityEnded(format!(
                "activity {} ended {status}: {}",
                activity["id"].as_str().unwrap_or("?"),
                activity["failure"]["message"].as_str().unwrap_or("no reason given")
            )))
        }
        _ => Ok(()),
    }
}
