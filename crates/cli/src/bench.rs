//! `twofold bench`: drives a running server over loopback with concurrent stamped
//! requests, bounded in time, and prints throughput and p50/p99 latency per scenario as
//! ratios of raw P-256 ECDSA verifications per second measured on the same cores in the
//! same run. `twofold bench seed` creates users in bulk for the 10 k → 1 M comparison.
//!
//! The server should run with `--auth-failure-limit 100` for the TOTP scenario, which
//! spends wrong codes (each user's failure budget in turn), as privacyIDEA's peer run does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use twofold_client::{ApiKeyPair, Client, Curve};

use crate::CliError;
use crate::request::ConnectArgs;

/// `twofold bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    seed: Option<SeedCommand>,
    /// Scenarios to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "whoami,activity,approval,totp,mfa-status")]
    scenarios: Vec<Scenario>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Users with a TOTP device for the TOTP scenario (each spends its failure budget in turn).
    #[arg(long, default_value_t = 100)]
    totp_users: usize,
    /// The server's process id: also prints the server's own CPU time per operation, and
    /// that as a ratio of raw verifies per core (the load generator shares the cores, so
    /// this is the figure that shows the server's cost alone).
    #[arg(long)]
    server_pid: Option<u32>,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
enum SeedCommand {
    /// Create `--users` users (100 per activity) in the key file's organization.
    Seed {
        /// How many users to create.
        #[arg(long)]
        users: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// What one scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// A stamped `get_whoami`.
    Whoami,
    /// An app activity that completes at once.
    Activity,
    /// An activity that needs one more approval: submit, then approve (one op = both).
    Approval,
    /// A TOTP check: an approval carrying a code (wrong codes, as the peer's load does).
    Totp,
    /// `get_mfa_status` of an activity waiting for a step-up.
    MfaStatus,
    /// Another tenant's `create_users` (measured) while a noisy tenant, from as many
    /// threads, submits payouts whose quadratic condition spends its whole evaluation
    /// budget (issue 17's load check). The noisy tenant's tally is printed at the end.
    Neighbour,
}

/// Latencies and outcomes of one scenario.
struct Outcome {
    ops: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Outcome {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        Duration::from_micros(self.latencies_us[i.min(self.latencies_us.len() - 1)])
    }
}

/// Runs the bench (or the seeding).
pub fn run(args: BenchArgs) -> Result<(), CliError> {
    if let Some(SeedCommand::Seed { users, concurrency, connect }) = args.seed {
        return seed(&connect.client()?, users, concurrency);
    }
    let root = Arc::new(args.connect.client()?);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let raw = raw_verifies_per_sec(cores, Duration::from_secs(2));
    println!("raw P-256 ECDSA verify (ring, {cores} threads): {raw:.0}/s\n");
    println!(
        "{:<12} {:>9} {:>10} {:>10} {:>10} {:>9} {:>7} {:>12} {:>12}",
        "scenario", "ops", "ops/s", "p50", "p99", "errors", "× raw", "server µs/op", "× raw/core"
    );
    for scenario in &args.scenarios {
        let op = prepare(*scenario, &root, args.totp_users, args.concurrency)?;
        let cpu_before = args.server_pid.and_then(process_cpu);
        let outcome = drive(args.concurrency, Duration::from_secs(args.seconds), &op);
        let server_cpu = cpu_before.zip(args.server_pid.and_then(process_cpu)).map(|(a, b)| b.saturating_sub(a));
        let (cpu_per_op, per_core) = match server_cpu {
            Some(cpu) if outcome.ops > 0 && !cpu.is_zero() => {
                let per_op_us = cpu.as_secs_f64() * 1e6 / outcome.ops as f64;
                (format!("{per_op_us:.0}"), format!("{:.3}", (1e6 / per_op_us) / (raw / cores as f64)))
            }
            _ => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{:<12} {:>9} {:>10.1} {:>10.2?} {:>10.2?} {:>9} {:>7.3} {:>12} {:>12}",
            scenario.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default(),
            outcome.ops,
            outcome.per_sec(),
            outcome.percentile(0.5),
            outcome.percentile(0.99),
            outcome.errors,
            outcome.per_sec() / raw,
            cpu_per_op,
            per_core
        );
    }
    let raw_after = raw_verifies_per_sec(cores, Duration::from_secs(2));
    println!("\nraw P-256 verify again after the load: {raw_after:.0}/s (the ratios use the first figure)");
    Ok(())
}

/// CPU time (user + system, every thread, living or exited) a process has used so far.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    Some(Duration::from_millis(ticks * 10))
}

/// Signs one body and verifies it on every core for `span`; returns verifications per second.
fn raw_verifies_per_sec(threads: usize, span: Duration) -> f64 {
    let Ok(key) = ApiKeyPair::generate(Curve::P256) else { return f64::NAN };
    let body = json!({ "organizationId": "x", "padding": "x".repeat(220) }).to_string();
    let Ok(der) = hex::decode(key.sign_hex(body.as_bytes())) else { return f64::NAN };
    let Ok(point) = hex::decode(key.public_key_hex()) else { return f64::NAN };
    let Ok(pk) = p256::PublicKey::from_sec1_bytes(&point) else { return f64::NAN };
    let uncompressed = {
        use p256::elliptic_curve::sec1::ToSec1Point;
        pk.to_sec1_point(false).as_bytes().to_vec()
    };
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (count, der, uncompressed, body) = (Arc::clone(&count), &der, &uncompressed, &body);
            s.spawn(move || {
                let verifier =
                    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, uncompressed);
                while start.elapsed() < span {
                    if verifier.verify(body.as_bytes(), der).is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// One operation a worker repeats: `worker index, iteration` → success.
type Op = Box<dyn Fn(usize, u64) -> bool + Send + Sync + 'static>;

/// Runs `op` from `concurrency` threads for `span`.
fn drive(concurrency: usize, span: Duration, op: &Op) -> Outcome {
    let stop = AtomicBool::new(false);
    let errors = AtomicU64::new(0);
    let start = Instant::now();
    let mut latencies_us: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..concurrency)
            .map(|w| {
                let (stop, errors) = (&stop, &errors);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) && start.elapsed() < span {
                        let t = Instant::now();
                        if op(w, i) {
                            lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        i += 1;
                    }
                    lat
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    stop.store(true, Ordering::Relaxed);
    latencies_us.sort_unstable();
    Outcome {
        ops: latencies_us.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        latencies_us,
    }
}

/// Whether the answer is an activity that completed.
fn is_completed(resp: &twofold_client::Result<twofold_client::ApiResponse>) -> bool {
    resp.as_ref().is_ok_and(|r| r.body["activity"]["status"] == "ACTIVITY_STATUS_COMPLETED")
}

fn completed(resp: twofold_client::Result<twofold_client::ApiResponse>, what: &str) -> Result<Value, CliError> {
    match resp {
        Ok(r)
            if r.body["activity"]["status"] == "ACTIVITY_STATUS_COMPLETED"
                || (r.status == 200 && r.body.get("activity").is_none()) =>
        {
            Ok(r.body)
        }
        Ok(r) => Err(CliError::Remote(format!("bench set-up: {what}: HTTP {} {}", r.status, r.body))),
        Err(e) => Err(CliError::Remote(format!("bench set-up: {what}: {e}"))),
    }
}

/// A user with a fresh API key in `root`'s organization; returns its id and client.
fn user(root: &Client, name: &str) -> Result<(String, Client), CliError> {
    let key = ApiKeyPair::generate(Curve::P256).map_err(|e| CliError::Runtime(e.to_string()))?;
    let params = json!({ "users": [{ "userName": name, "apiKeys": [{ "apiKeyName": "bench",
        "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }], "authenticators": [],
        "oauthProviders": [], "userTags": [] }] });
    let body = completed(root.submit("create_users", params), "create_users")?;
    let id = body["activity"]["result"]["createUsersResult"]["userIds"][0].as_str().unwrap_or_default().to_owned();
    Ok((id, Client::new(root.base_url(), key, root.organization_id())))
}

fn allow(root: &Client, name: &str, condition: &str, consensus: Option<&str>) -> Result<(), CliError> {
    let mut p = json!({ "policyName": name, "effect": "EFFECT_ALLOW", "condition": condition, "notes": "bench" });
    if let Some(c) = consensus {
        p["consensus"] = json!(c);
    }
    completed(root.submit("create_policy", p), "create_policy").map(drop)
}

/// A unique suffix per run, so scenario resources never collide with an earlier run's.
fn run_id() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    hex::encode(b).to_uppercase()
}

/// Sets up `scenario` and returns the operation its workers repeat.
fn prepare(scenario: Scenario, root: &Arc<Client>, totp_users: usize, concurrency: usize) -> Result<Op, CliError> {
    let run = run_id();
    match scenario {
        Scenario::Whoami => {
            let root = Arc::clone(root);
            Ok(Box::new(move |_, _| root.query("get_whoami", json!({})).is_ok_and(|r| r.status == 200)))
        }
        Scenario::Activity => {
            let root = Arc::clone(root);
            let resource = format!("BENCH{run}");
            Ok(Box::new(move |w, i| {
                let params = json!({ "resource": resource, "action": "CREATE", "payload": { "worker": w, "n": i } });
                is_completed(&root.submit("create_app_activity", params))
            }))
        }
        Scenario::Approval => {
            let resource = format!("PAYOUT{run}");
            let (_, initiator) = user(root, &format!("bench initiator {run}"))?;
            allow(
                root,
                &format!("bench payouts {run}"),
                &format!("activity.resource == '{resource}'"),
                Some("approvers.count() >= 2"),
            )?;
            let root = Arc::clone(root);
            Ok(Box::new(move |w, i| {
                let params = json!({ "resource": resource, "action": "CREATE", "payload": { "worker": w, "n": i } });
                let pending = initiator.submit("create_app_activity", params);
                let Some(fp) = pending.as_ref().ok().and_then(|r| r.body["activity"]["fingerprint"].as_str()) else {
                    return false;
                };
                is_completed(&root.submit("approve_activity", json!({ "fingerprint": fp })))
            }))
        }
        Scenario::Totp => prepare_totp(root, &run, totp_users),
        Scenario::Neighbour => prepare_neighbour(root, &run, concurrency),
        Scenario::MfaStatus => {
            let (id, user_client) = user(root, &format!("bench mfa {run}"))?;
            let resource = format!("STEP{run}");
            allow(root, &format!("bench steps {run}"), &format!("activity.resource == '{resource}'"), None)?;
            mfa_policy(root, &id, &resource, "AUTHENTICATION_TYPE_TOTP")?;
            let pending = user_client
                .submit("create_app_activity", json!({ "resource": resource, "action": "CREATE" }))
                .map_err(|e| CliError::Remote(e.to_string()))?;
            let activity_id = pending.body["activity"]["id"].as_str().unwrap_or_default().to_owned();
            Ok(Box::new(move |_, _| {
                user_client.query("get_mfa_status", json!({ "activityId": activity_id })).is_ok_and(|r| r.status == 200)
            }))
        }
    }
}

fn mfa_policy(root: &Client, user_id: &str, resource: &str, method: &str) -> Result<(), CliError> {
    let p = json!({ "userId": user_id, "mfaPolicyName": format!("bench {resource}"),
        "condition": format!("activity.resource == '{resource}'"),
        "requiredAuthenticationMethods": [{ "any": [{ "type": method }] }], "order": 0 });
    completed(root.submit("create_mfa_policy", p), "create_mfa_policy").map(drop)
}

/// Users with an active TOTP device and one activity each waiting for a TOTP step;
/// workers send wrong codes, moving to the next user when one's failure budget is spent.
fn prepare_totp(root: &Client, run: &str, users: usize) -> Result<Op, CliError> {
    let resource = format!("CHECK{run}");
    allow(root, &format!("bench checks {run}"), &format!("activity.resource == '{resource}'"), None)?;
    let mut targets = Vec::with_capacity(users);
    for n in 0..users {
        let (id, client) = user(root, &format!("bench totp {run} {n}"))?;
        let created = completed(
            client.submit("create_totp_authenticator", json!({ "userId": id })),
            "create_totp_authenticator",
        )?;
        let r = &created["activity"]["result"]["createTotpAuthenticatorResult"];
        let uri = r["otpauthUri"].as_str().unwrap_or_default();
        let totp = totp_rs::Totp::from_url_unchecked(uri).map_err(|e| CliError::Runtime(e.to_string()))?;
        let code = totp.generate_current().to_string();
        completed(
            client.submit(
                "verify_totp_authenticator",
                json!({ "userId": id, "totpAuthenticatorId": r["totpAuthenticatorId"], "totpCode": code }),
            ),
            "verify_totp_authenticator",
        )?;
        mfa_policy(root, &id, &resource, "AUTHENTICATION_TYPE_TOTP")?;
        let pending = client
            .submit("create_app_activity", json!({ "resource": resource, "action": "CREATE" }))
            .map_err(|e| CliError::Remote(e.to_string()))?;
        let fp = pending.body["activity"]["fingerprint"].as_str().unwrap_or_default().to_owned();
        targets.push((client, fp, totp));
    }
    let next = AtomicUsize::new(0);
    Ok(Box::new(move |w, i| {
        // Each worker walks the users from its own offset; a 429 (budget spent) moves it on.
        let k = (w + next.load(Ordering::Relaxed)) % targets.len();
        let (client, fp, totp) = &targets[k];
        let right = totp.generate_current().to_string();
        let wrong = format!("{:06}", (right.parse::<u32>().unwrap_or(0) + 1 + (i % 7) as u32) % 1_000_000);
        match client.submit("approve_activity", json!({ "fingerprint": fp, "totpCode": wrong })) {
            Ok(r) if r.status == 401 => true,
            Ok(r) if r.status == 429 => {
                next.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => false,
        }
    }))
}

/// A new sub-organization whose single root user holds a fresh key; returns its client.
fn tenant(root: &Client, name: &str) -> Result<Client, CliError> {
    let key = ApiKeyPair::generate(Curve::P256).map_err(|e| CliError::Runtime(e.to_string()))?;
    let owner = json!({ "userName": format!("{name} owner"), "apiKeys": [{ "apiKeyName": "bench",
        "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }], "authenticators": [],
        "oauthProviders": [] });
    let params = json!({ "subOrganizationName": name, "rootQuorumThreshold": 1, "rootUsers": [owner] });
    let body = completed(root.submit("create_sub_organization", params), "create_sub_organization")?;
    let org = body["activity"]["result"]["createSubOrganizationResultV8"]["subOrganizationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Client::new(root.base_url(), key, &org))
}

/// The noisy tenant's load: stops when the scenario's operation is dropped, then prints
/// how its payouts ended.
struct Noise {
    stop: Arc<AtomicBool>,
    /// Payouts the budget stopped (FAILED naming the evaluation budget).
    stopped: Arc<AtomicU64>,
    /// Any other answer: a 5xx, a completed or differently failed payout.
    other: Arc<AtomicU64>,
}

impl Drop for Noise {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        println!(
            "  noisy tenant: {} payouts stopped by the evaluation budget, {} other answers",
            self.stopped.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed)
        );
    }
}

/// Issue 17's load check: a noisy tenant (its own sub-organization, a non-root member
/// so its policies decide) sends payouts of 1 000 recipients — the largest list a payload
/// may hold, near the 64 KiB cap — against an ALLOW whose condition is quadratic in the
/// list, so every one spends the whole evaluation budget; the measured operation is
/// another tenant's `create_users`.
fn prepare_neighbour(root: &Client, run: &str, threads: usize) -> Result<Op, CliError> {
    let noisy_root = tenant(root, &format!("bench noisy {run}"))?;
    let (_, noisy) = user(&noisy_root, "payer")?;
    allow(
        &noisy_root,
        "quadratic",
        "activity.resource == 'PAYOUT' && activity.params.to.all(a, activity.params.to.filter(b, b == a).count() == 1)",
        None,
    )?;
    let victim = tenant(root, &format!("bench victim {run}"))?;
    let noise = Noise {
        stop: Arc::new(AtomicBool::new(false)),
        stopped: Arc::new(AtomicU64::new(0)),
        other: Arc::new(AtomicU64::new(0)),
    };
    let noisy = Arc::new(noisy);
    for t in 0..threads.max(1) {
        let (noisy, stop) = (Arc::clone(&noisy), Arc::clone(&noise.stop));
        let (stopped, other) = (Arc::clone(&noise.stopped), Arc::clone(&noise.other));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let to: Vec<String> = (0..1000).map(|k| format!("recipient {t:>4} {i:>12} {k:>30}")).collect();
                let params = json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "to": to } });
                let budget_stopped = noisy.submit("create_app_activity", params).is_ok_and(|r| {
                    r.body["activity"]["status"] == "ACTIVITY_STATUS_FAILED"
                        && r.body["activity"]["failure"].to_string().contains("evaluation budget")
                });
                let tally = if budget_stopped { &stopped } else { &other };
                tally.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        });
    }
    let run = run.to_owned();
    Ok(Box::new(move |w, i| {
        let _noise = &noise;
        let params = json!({ "users": [{ "userName": format!("bench neighbour {run} {w} {i}"), "apiKeys": [],
            "authenticators": [], "oauthProviders": [], "userTags": [] }] });
        is_completed(&victim.submit("create_users", params))
    }))
}

/// Creates `users` users, 100 per activity, from `concurrency` threads.
fn seed(root: &Client, users: usize, concurrency: usize) -> Result<(), CliError> {
    let batches = users.div_ceil(100);
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let run = run_id();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1) {
            s.spawn(|| {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        break;
                    }
                    let n = (users - b * 100).min(100);
                    let list: Vec<Value> = (0..n)
                        .map(|k| {
                            json!({ "userName": format!("seed {run} {b} {k}"), "apiKeys": [],
                            "authenticators": [], "oauthProviders": [], "userTags": [] })
                        })
                        .collect();
                    if !is_completed(&root.submit("create_users", json!({ "users": list }))) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let failed = failed.load(Ordering::Relaxed);
    println!("created {} users in {:.1?} ({failed} batches failed)", users - failed * 100, start.elapsed());
    if failed > 0 { Err(CliError::Remote(format!("{failed} batches of users failed"))) } else { Ok(()) }
}
