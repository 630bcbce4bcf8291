//! `make bench`: cold init, warm overhead, the Wasm tax, `invoke`'s start,
//! peak RSS and package sizes, written to `target/bench/report.md` and into
//! `docs/performance.md`. Medians over repeated runs, with min and max; ratios
//! are measured side by side in the same run.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attach_iot_policy::function::Function;
use attach_iot_policy::limits::Limits;
use attach_iot_policy::runner::{self, Invocation, Runner};
use attach_iot_policy_guest::{Attribute, AwsError, Host, Level};
use support::backends::{self, EXAMPLE_EVENT as EVENT, EXAMPLE_POLICY as POLICY};
use support::loopback::{http, read_request};
use support::root;
use support::tls::{TestCa, localhost, now};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
const COLD_RUNS: usize = 30;
const WARM_INVOCATIONS: usize = 300;
/// The warm runs alternate between two bootstraps in this many rounds.
const WARM_ROUNDS: usize = 6;
/// The Wasm tax runs in rounds that alternate the two sides, each side
/// looping on its own within a round so neither evicts the other's caches.
const TAX_ROUNDS: usize = 20;
const TAX_RUNS_PER_ROUND: usize = 100;
const TAX_RUNS: usize = TAX_ROUNDS * TAX_RUNS_PER_ROUND;
/// Cold starts per side for the first invocation over TLS.
const FIRST_RUNS: usize = 20;
/// Targets drained at 15 a second: 20 s.
const DRAIN_TARGETS: usize = 300;
/// `invoke` runs per way of loading the guest, alternating the two.
const INVOKE_RUNS: usize = 20;
/// Reads of a long allowlist, for each of two lengths.
const CONFIG_RUNS: usize = 11;

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats { median: samples[samples.len() / 2], min: samples[0], max: samples[samples.len() - 1] }
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

/// An AWS that answers every call at once with success.
async fn instant_aws() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                while read_request(&mut socket).await.is_some() {
                    if socket.write_all(&http(200, "", b"{}")).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// The same over TLS, with a certificate from `ca`, which the bootstrap is
/// told to trust with `AWS_CA_BUNDLE`.
async fn instant_aws_over_tls(ca: &TestCa) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let day = ::time::Duration::DAY;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(ca.server_cert(localhost(), now() - day, now() + day)));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                while read_request(&mut tls).await.is_some() {
                    if tls.write_all(&http(200, "", b"{}")).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// What the throttling IoT fake saw.
#[derive(Default)]
struct FakeIot {
    attached: std::collections::BTreeSet<String>,
    detached: usize,
    throttled: usize,
}

/// A loopback IoT that lists the policy's targets and detaches at most
/// `limit` a second: a token bucket holding one second's worth, as AWS's
/// quotas do; above it, 429 `ThrottlingException`.
async fn throttling_iot(targets: usize, limit: f64) -> (String, Arc<Mutex<FakeIot>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(FakeIot {
        attached: (0..targets).map(|i| format!("us-east-1:00000000-0000-4000-8000-{i:012}")).collect(),
        ..FakeIot::default()
    }));
    let bucket = Arc::new(Mutex::new((limit, Instant::now())));
    let shared = state.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (state, bucket) = (shared.clone(), bucket.clone());
            tokio::spawn(async move {
                while let Some((head, body)) = read_request(&mut socket).await {
                    let answer = if head.starts_with("POST /policy-targets/") {
                        let targets: Vec<String> = state.lock().unwrap().attached.iter().cloned().collect();
                        http(200, "", serde_json::json!({ "targets": targets }).to_string().as_bytes())
                    } else {
                        let target = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["target"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        let allowed = {
                            let mut b = bucket.lock().unwrap();
                            let now = Instant::now();
                            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * limit).min(limit);
                            b.1 = now;
                            if b.0 >= 1.0 {
                                b.0 -= 1.0;
                                true
                            } else {
                                false
                            }
                        };
                        let mut state = state.lock().unwrap();
                        if allowed {
                            state.attached.remove(&target);
                            state.detached += 1;
                            http(200, "", b"{}")
                        } else {
                            state.throttled += 1;
                            let body = br#"{"message":"Rate exceeded"}"#;
                            http(429, "x-amzn-ErrorType: ThrottlingException\r\n", body)
                        }
                    };
                    if socket.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, state)
}

/// `detach-all`'s drain against [`throttling_iot`]: the rate it achieved,
/// what it lost, and how often it was throttled.
async fn drain_against_throttling(targets: usize, rate: f64, limit: f64) -> (f64, usize, usize) {
    use attach_iot_policy::aws::client::AwsClient;
    use attach_iot_policy::aws::retry::RetryPolicy;
    use attach_iot_policy::drain::{Limits, drain};
    let (url, state) = throttling_iot(targets, limit).await;
    let var = move |k: &str| match k {
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" => Some("AKIDBENCH".to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some("bench-secret".to_owned()),
        "AWS_ENDPOINT_URL" => Some(url.clone()),
        _ => None,
    };
    let aws = Arc::new(AwsClient::from_lookup(&var, RetryPolicy::default()).unwrap());
    let limits =
        Limits { rate, deadline: Instant::now() + Duration::from_secs(600), calls_end: None, interrupted: None };
    let summary = drain(aws, "bench-policy", limits, |_, _| {}).await.unwrap();
    let state = state.lock().unwrap();
    assert_eq!(summary.detached, state.detached);
    (summary.rate, state.attached.len(), state.throttled)
}

/// A loopback IoT with `targets` targets of realistic identity IDs, made as
/// they are listed, in pages of 250; a detached target is listed no more.
/// Its own memory is one bit a target, in the bench, not in the drain.
async fn paged_iot(targets: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let detached = Arc::new(Mutex::new(vec![false; targets]));
    let id = |i: usize| {
        format!("us-east-1:{:08x}-{:04x}-4000-8000-{i:012x}", i.wrapping_mul(2_654_435_761) as u32, i % 65_536)
    };
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let detached = detached.clone();
            tokio::spawn(async move {
                while let Some((head, body)) = read_request(&mut socket).await {
                    let answer = if head.starts_with("POST /policy-targets/") {
                        let from: usize = head
                            .split("marker=")
                            .nth(1)
                            .and_then(|m| m.split([' ', '&']).next()?.parse().ok())
                            .unwrap_or(0);
                        let detached = detached.lock().unwrap();
                        let page: Vec<usize> = (from..targets).filter(|i| !detached[*i]).take(250).collect();
                        let next = page.last().map(|last| last + 1).filter(|next| *next < targets);
                        let ids: Vec<String> = page.into_iter().map(id).collect();
                        let page = serde_json::json!({ "targets": ids, "nextMarker": next.map(|n| n.to_string()) });
                        http(200, "", page.to_string().as_bytes())
                    } else {
                        let target = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["target"]
                            .as_str()
                            .and_then(|t| u64::from_str_radix(t.rsplit('-').next()?, 16).ok())
                            .unwrap() as usize;
                        detached.lock().unwrap()[target] = true;
                        http(200, "", b"{}")
                    };
                    if socket.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// `detach-all` (the release binary) draining [`paged_iot`]: its peak RSS in
/// KiB, read while it runs, how many it detached, and how long it took.
async fn drain_peak_rss(cli: &Path, targets: usize) -> (Option<u64>, u64, Duration) {
    let url = paged_iot(targets).await;
    let started = Instant::now();
    let mut child = Command::new(cli)
        .args(["detach-all", "--policy", "bench-policy", "--rate", "10000"])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = None;
    while child.try_wait().unwrap().is_none() {
        peak = peak_rss_kib(pid).or(peak);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out).unwrap();
    (peak, summary["detached"].as_u64().unwrap_or(0), elapsed)
}

/// What the minimal Runtime API tells the bench.
enum Seen {
    Next(Instant),
    Response(Instant),
}

/// A minimal Runtime API: hands out queued events, reports each GET /next and
/// each POST response with its arrival time.
async fn runtime_api(
    events: Arc<Mutex<VecDeque<Vec<u8>>>>,
    release: Arc<tokio::sync::Notify>,
) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (tx, events, release) = (tx.clone(), events.clone(), release.clone());
            tokio::spawn(async move {
                while let Some((head, _)) = read_request(&mut socket).await {
                    if head.starts_with("GET") {
                        let _ = tx.send(Seen::Next(Instant::now()));
                        release.notified().await;
                        let Some(event) = events.lock().unwrap().pop_front() else { return };
                        let headers = "Lambda-Runtime-Aws-Request-Id: bench\r\nLambda-Runtime-Deadline-Ms: 0\r\n";
                        if socket.write_all(&http(200, headers, &event)).await.is_err() {
                            return;
                        }
                    } else {
                        let _ = tx.send(Seen::Response(Instant::now()));
                        let _ = socket.write_all(&http(202, "", b"")).await;
                    }
                }
            });
        }
    });
    (address, rx)
}

fn spawn_bootstrap(bootstrap: &Path, api: &str, aws: &str) -> Child {
    spawn_bootstrap_with(bootstrap, api, aws, &[])
}

/// With `extra` settings on top of the usual ones.
fn spawn_bootstrap_with(bootstrap: &Path, api: &str, aws: &str, extra: &[(&str, &str)]) -> Child {
    Command::new(bootstrap)
        .env_clear()
        .envs(extra.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_LOG_LEVEL", "ERROR")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_ENDPOINT_URL", aws)
        .env("IOT_POLICY_NAME", POLICY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bootstrap starts")
}

/// CPU time of every thread of `pid` so far, from the scheduler's own
/// nanosecond count (`/proc/<pid>/task/*/schedstat`).
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// The guest's imports, natively: AWS answers at once, as `backends::Instant`
/// does for the Wasm run.
struct NativeHost;

impl Host for NativeHost {
    fn attach_policy(&mut self, _: &str, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
    fn list_users(&mut self, _: &str, _: &str) -> Result<Vec<String>, AwsError> {
        Ok(vec!["mat@example.com".into()])
    }
    fn update_attributes(&mut self, _: &str, username: &str, _: &[Attribute]) -> Result<(), AwsError> {
        if username.contains('-') { Err(AwsError::NotFound("UserNotFoundException".into())) } else { Ok(()) }
    }
    fn detach_policy(&mut self, _: &str, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
    fn delete_attributes(&mut self, _: &str, username: &str, _: &[String]) -> Result<(), AwsError> {
        if username.contains('-') { Err(AwsError::NotFound("UserNotFoundException".into())) } else { Ok(()) }
    }
    fn log(&mut self, _: Level, _: &str) {}
}

/// Where `make bench` writes its report in `docs/performance.md`.
const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let bootstrap = root().join("dist/x86_64/bootstrap");
    assert!(bootstrap.exists(), "run `make package-x86_64` first");
    let mut report = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    writeln!(report, "Machine: {cpu}, {cores} cores (shared; figures are medians).\n").unwrap();
    writeln!(report, "| figure | median | min | max | target |\n|---|---|---|---|---|").unwrap();

    let (cold, warm, rss, cpu, without_metrics) = rt.block_on(async {
        let aws = instant_aws().await;
        // Cold init: spawn until the first GET /next.
        let mut cold = Vec::new();
        for _ in 0..COLD_RUNS {
            let release = Arc::new(tokio::sync::Notify::new());
            let (api, mut seen) = runtime_api(Arc::new(Mutex::new(VecDeque::new())), release).await;
            let started = Instant::now();
            let mut child = spawn_bootstrap(&bootstrap, &api, &aws);
            let Some(Seen::Next(at)) = seen.recv().await else { panic!("no GET /next") };
            cold.push(at - started);
            let _ = child.kill();
            let _ = child.wait();
        }
        // Warm: event handed over until its response arrives. Two bootstraps,
        // with the EMF metrics line and without, in alternating rounds.
        let mut sides = Vec::new();
        for metrics in ["on", "off"] {
            let events = Arc::new(Mutex::new(
                (0..WARM_INVOCATIONS + 1).map(|_| EVENT.as_bytes().to_vec()).collect::<VecDeque<_>>(),
            ));
            let release = Arc::new(tokio::sync::Notify::new());
            let (api, mut seen) = runtime_api(events, release.clone()).await;
            let child = spawn_bootstrap_with(&bootstrap, &api, &aws, &[("ATTACH_IOT_POLICY_METRICS", metrics)]);
            let Some(Seen::Next(_)) = seen.recv().await else { panic!() };
            // The first invocation is not warm.
            release.notify_one();
            let Some(Seen::Response(_)) = seen.recv().await else { panic!("no response") };
            let Some(Seen::Next(_)) = seen.recv().await else { panic!() };
            let cpu_before = cpu_time(child.id());
            sides.push((child, release, seen, Vec::new(), cpu_before));
        }
        for round in 0..WARM_ROUNDS {
            // Each side goes first in every other round, so order counts for neither.
            sides.rotate_left(usize::from(round > 0));
            for (_, release, seen, samples, _) in &mut sides {
                for _ in 0..WARM_INVOCATIONS / WARM_ROUNDS {
                    let handed = Instant::now();
                    release.notify_one();
                    let Some(Seen::Response(at)) = seen.recv().await else { panic!("no response") };
                    samples.push(at - handed);
                    let Some(Seen::Next(_)) = seen.recv().await else { panic!() };
                }
            }
        }
        if WARM_ROUNDS.is_multiple_of(2) {
            sides.rotate_left(1);
        }
        let mut results = Vec::new();
        for (mut child, _, _, samples, cpu_before) in sides {
            let rss = peak_rss_kib(child.id());
            // The bootstrap's own CPU per warm invocation: the part of the wall
            // time that is not the loopback servers or the scheduler.
            let cpu = cpu_before.zip(cpu_time(child.id())).map(|(a, b)| (b - a) / samples.len() as u32);
            let _ = child.kill();
            let _ = child.wait();
            results.push((stats(samples), rss, cpu));
        }
        let (without, _, _) = results.pop().unwrap();
        let (warm, rss, cpu) = results.pop().unwrap();
        (stats(cold), warm, rss, cpu, without)
    });
    writeln!(
        report,
        "| cold init: spawn of `bootstrap` to its first `GET /next` ({COLD_RUNS} runs) | {} | {} | {} | < 10 ms |",
        fmt(cold.median),
        fmt(cold.min),
        fmt(cold.max)
    )
    .unwrap();
    writeln!(report, "| warm invocation, event handed over to response received, AWS on loopback ({WARM_INVOCATIONS} runs) | {} | {} | {} | < 300 µs |", fmt(warm.median), fmt(warm.min), fmt(warm.max)).unwrap();
    let cpu = cpu.map_or_else(|| "unknown".into(), fmt);
    writeln!(report, "| &nbsp;&nbsp;of which the `bootstrap`'s own CPU time (mean, all threads) | {cpu} | | | |")
        .unwrap();
    writeln!(
        report,
        "| &nbsp;&nbsp;the same with `ATTACH_IOT_POLICY_METRICS=off`, in alternating rounds ({WARM_INVOCATIONS} runs) | {} | {} | {} | |",
        fmt(without_metrics.median),
        fmt(without_metrics.min),
        fmt(without_metrics.max)
    )
    .unwrap();

    // The Wasm tax: the same decision path, in wasmtime and natively.
    let runner = Arc::new(Runner::new(attach_iot_policy::GUEST_WASM, Limits::default()).unwrap());
    let config = backends::example_config();
    let invocation = Invocation {
        request_id: "bench".into(),
        cognito_identity: None,
        deadline: runner::deadline_in(Duration::from_secs(600)),
        trace_id: None,
    };
    let guest_config = attach_iot_policy_guest::Config {
        policy_names: config.policy_names.clone(),
        attribute_name: config.attribute_name.clone(),
        allowed_identity_pool_ids: config.allowed_identity_pool_ids.clone(),
        allowed_user_pool_ids: config.allowed_user_pool_ids.clone(),
        cors_allow_origin: config.cors_allow_origin.clone(),
        attribute_value: attach_iot_policy_guest::AttributeValue::LiteralTrue,
    };
    let context = attach_iot_policy_guest::Context { request_id: "bench".into(), cognito_identity: None };
    let function = Function::new(runner, Arc::new(config), Arc::new(backends::Instant));
    let (mut wasm, mut native, mut phases) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TAX_ROUNDS {
        for _ in 0..TAX_RUNS_PER_ROUND {
            let started = Instant::now();
            let outcome = rt.block_on(function.invoke(EVENT.as_bytes(), &invocation));
            wasm.push(started.elapsed());
            assert_eq!(outcome.response.status_code, 200, "{}", outcome.response.body);
            phases.push(outcome.phases);
        }
        for _ in 0..TAX_RUNS_PER_ROUND {
            let started = Instant::now();
            let response = attach_iot_policy_guest::handle(EVENT, &context, &guest_config, &mut NativeHost);
            native.push(started.elapsed());
            assert_eq!(response.status_code, 200);
        }
    }
    let (wasm, native) = (stats(wasm), stats(native));
    let ratio = wasm.median.as_secs_f64() / native.median.as_secs_f64();
    writeln!(
        report,
        "| guest decision path in wasmtime: fresh `Store`, instantiate, `handle`, AWS answering at once ({TAX_RUNS} runs) | {} | {} | {} | |",
        fmt(wasm.median),
        fmt(wasm.min),
        fmt(wasm.max)
    )
    .unwrap();
    writeln!(
        report,
        "| the same guest code called natively, AWS answering at once ({TAX_RUNS} runs) | {} | {} | {} | |",
        fmt(native.median),
        fmt(native.min),
        fmt(native.max)
    )
    .unwrap();
    writeln!(report, "| **Wasm tax** (ratio of the medians above) | {ratio:.1}× | | | < 3× |").unwrap();
    let phase = |name: &str, pick: fn(&runner::Phases) -> Duration| {
        let s = stats(phases.iter().map(pick).collect());
        format!("| &nbsp;&nbsp;of the Wasm path: {name} | {} | {} | {} | |\n", fmt(s.median), fmt(s.min), fmt(s.max))
    };
    report.push_str(&phase("`Store`", |p| p.setup));
    report.push_str(&phase("instantiate", |p| p.instantiate));
    report.push_str(&phase("`handle` (the same work as the native run)", |p| p.handle));
    report.push_str(&phase("drop the `Store`, reset the pooled memory", |p| p.teardown));

    // `invoke`'s start: the release CLI loading its precompiled guest, and
    // the same CLI compiling the guest's .wasm, as every `invoke` did before.
    let cli = root().join("target/release/attach-iot-policy");
    let wasm = root().join("target/wasm32-wasip2/guest/attach_iot_policy_guest.wasm");
    assert!(cli.exists() && wasm.exists(), "run `make build` first");
    // The CLI `cargo bench` built must be the one with the precompiled guest.
    let check = Command::new(&cli)
        .args(["invoke", "--simulate", "--event"])
        .arg(root().join("examples/event-rest.json"))
        .env("IOT_POLICY_NAME", POLICY)
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("loaded the built-in guest, precompiled"),
        "the release CLI has no precompiled guest: run `make bench`, which builds it with one"
    );
    let invoke_once = |component: Option<&Path>| {
        let mut command = Command::new(&cli);
        command
            .args(["invoke", "--simulate", "--event"])
            .arg(root().join("examples/event-rest.json"))
            .env_clear()
            .env("IOT_POLICY_NAME", POLICY)
            .env("AWS_LAMBDA_LOG_LEVEL", "ERROR")
            .stdout(Stdio::null());
        if let Some(component) = component {
            command.arg("--component").arg(component);
        }
        let started = Instant::now();
        assert!(command.status().unwrap().success());
        started.elapsed()
    };
    let (mut precompiled, mut compiling) = (Vec::new(), Vec::new());
    for _ in 0..INVOKE_RUNS {
        precompiled.push(invoke_once(None));
        compiling.push(invoke_once(Some(&wasm)));
    }
    let (precompiled, compiling) = (stats(precompiled), stats(compiling));
    writeln!(
        report,
        "| `invoke --simulate` with the release CLI, spawn to exit, its precompiled guest ({INVOKE_RUNS} runs) | {} | {} | {} | |",
        fmt(precompiled.median),
        fmt(precompiled.min),
        fmt(precompiled.max)
    )
    .unwrap();
    writeln!(
        report,
        "| the same, compiling the guest's `.wasm` with `--component`, as every `invoke` did before ({INVOKE_RUNS} runs, alternating) | {} | {} | {} | |",
        fmt(compiling.median),
        fmt(compiling.min),
        fmt(compiling.max)
    )
    .unwrap();

    let rss = rss.map_or_else(|| "unknown".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    writeln!(report, "| peak RSS of `bootstrap` after {WARM_INVOCATIONS} invocations | {rss} | | | < 20 MB |").unwrap();

    // The first invocation after a cold start, with AWS over TLS on loopback:
    // with the connections opened at init, and without, alternating.
    let (opened, not_opened) = rt.block_on(async {
        let ca = TestCa::new("bench-ca");
        let aws = instant_aws_over_tls(&ca).await;
        let bundle = ca.pem_file.display().to_string();
        let (mut opened, mut not_opened) = (Vec::new(), Vec::new());
        for _ in 0..FIRST_RUNS {
            for (preconnect, samples) in [("on", &mut opened), ("off", &mut not_opened)] {
                let events = Arc::new(Mutex::new(VecDeque::from([EVENT.as_bytes().to_vec()])));
                let release = Arc::new(tokio::sync::Notify::new());
                let (api, mut seen) = runtime_api(events, release.clone()).await;
                let settings = [
                    ("ATTACH_IOT_POLICY_PRECONNECT", preconnect),
                    ("AWS_CA_BUNDLE", bundle.as_str()),
                    // Pins Cognito's region, so init opens that connection too.
                    ("ALLOWED_USER_POOL_IDS", "us-west-2_Ex4mpLe01"),
                ];
                let mut child = spawn_bootstrap_with(&bootstrap, &api, &aws, &settings);
                let Some(Seen::Next(_)) = seen.recv().await else { panic!("no GET /next") };
                let handed = Instant::now();
                release.notify_one();
                let Some(Seen::Response(at)) = seen.recv().await else { panic!("no response") };
                samples.push(at - handed);
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        (stats(opened), stats(not_opened))
    });
    writeln!(
        report,
        "| first invocation after a cold start, AWS over TLS on loopback, connections opened at init ({FIRST_RUNS} runs) | {} | {} | {} | |",
        fmt(opened.median),
        fmt(opened.min),
        fmt(opened.max)
    )
    .unwrap();
    writeln!(
        report,
        "| the same with `ATTACH_IOT_POLICY_PRECONNECT=off`, alternating ({FIRST_RUNS} runs) | {} | {} | {} | |",
        fmt(not_opened.median),
        fmt(not_opened.min),
        fmt(not_opened.max)
    )
    .unwrap();
    // detach-all: at AWS's default DetachPolicy quota, against a fake that
    // enforces it; then asked for twice that, so throttling must be absorbed.
    let (at_quota, over_quota) = rt.block_on(async {
        (
            drain_against_throttling(DRAIN_TARGETS, 15.0, 15.0).await,
            drain_against_throttling(DRAIN_TARGETS / 2, 30.0, 15.0).await,
        )
    });
    writeln!(
        report,
        "| `detach-all --rate 15`, {DRAIN_TARGETS} targets, IoT fake throttling above 15/s | {:.2}/s ({:.1}% of 15), {} lost, {} throttled | | | ≥ 95%, none lost |",
        at_quota.0,
        at_quota.0 / 15.0 * 100.0,
        at_quota.1,
        at_quota.2
    )
    .unwrap();
    writeln!(
        report,
        "| `detach-all --rate 30` against the same 15/s fake, {} targets | {:.2}/s, {} lost, {} throttled (retried) | | | none lost |",
        DRAIN_TARGETS / 2,
        over_quota.0,
        over_quota.1,
        over_quota.2
    )
    .unwrap();
    // The drain's memory: streamed, it holds a few pages whatever the count.
    let cli = root().join("target/release/attach-iot-policy");
    let (small, large) =
        rt.block_on(async { (drain_peak_rss(&cli, 100_000).await, drain_peak_rss(&cli, 1_000_000).await) });
    for (targets, (peak, detached, took)) in [(100_000, small), (1_000_000, large)] {
        assert_eq!(detached, targets as u64, "the drain detached every target");
        let peak = peak.map_or_else(|| "unknown".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
        writeln!(
            report,
            "| peak RSS of `detach-all` draining {targets} targets on loopback (at 10,000/s; took {:.0} s) | {peak} | | | the same for both |",
            took.as_secs_f64()
        )
        .unwrap();
    }
    if let ((Some(small), ..), (Some(large), ..)) = (small, large) {
        writeln!(
            report,
            "| &nbsp;&nbsp;ratio, 1,000,000 to 100,000 targets | {:.2}× | | | ≈ 1× |",
            large as f64 / small as f64
        )
        .unwrap();
    }
    // A long allowlist is read in linear time: 10x the items, about 10x the time.
    let read_allowlist = |n: usize| {
        let value = (0..n).map(|i| format!("us-east-1_p{}", i % (n / 2))).collect::<Vec<_>>().join(",");
        let samples = (0..CONFIG_RUNS)
            .map(|_| {
                let started = Instant::now();
                let config = attach_iot_policy::config::from_lookup(&|k: &str| match k {
                    "IOT_POLICY_NAME" => Some("p".to_owned()),
                    "ALLOWED_USER_POOL_IDS" => Some(value.clone()),
                    _ => None,
                })
                .unwrap();
                let elapsed = started.elapsed();
                assert_eq!(config.allowed_user_pool_ids.len(), n / 2);
                elapsed
            })
            .collect();
        stats(samples)
    };
    let (small, large) = (read_allowlist(20_000), read_allowlist(200_000));
    writeln!(
        report,
        "| reading `ALLOWED_USER_POOL_IDS` of 200,000 items, half repeats ({CONFIG_RUNS} runs) | {} | {} | {} | |",
        fmt(large.median),
        fmt(large.min),
        fmt(large.max)
    )
    .unwrap();
    let growth = large.median.as_secs_f64() / small.median.as_secs_f64();
    writeln!(report, "| &nbsp;&nbsp;ratio to 20,000 items (linear is 10×, more once the set outgrows the caches; a scan per item is 100×) | {growth:.1}× | | | < 30× |").unwrap();
    // The Node.js side: the bridge, and both packages under fun (tests/node/bench.mjs).
    let node = Command::new("node")
        .arg("bench.mjs")
        .current_dir(root().join("tests/node"))
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs tests/node/bench.mjs");
    assert!(node.status.success(), "tests/node/bench.mjs failed");
    report.push_str(&String::from_utf8_lossy(&node.stdout));
    // The app's package, as an app ships it (client/size.mjs).
    let size = Command::new("node")
        .arg("size.mjs")
        .current_dir(root().join("client"))
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs client/size.mjs");
    assert!(size.status.success(), "client/size.mjs failed: run `make client`");
    report.push_str(&String::from_utf8_lossy(&size.stdout));
    for arch in ["x86_64", "arm64"] {
        let zip = root().join(format!("dist/attach-iot-policy-{arch}.zip"));
        let size = std::fs::metadata(&zip)
            .map_or_else(|_| "not built".into(), |m| format!("{:.2} MiB", m.len() as f64 / (1 << 20) as f64));
        writeln!(report, "| `dist/attach-iot-policy-{arch}.zip` | {size} | | | < 4 MiB |").unwrap();
    }
    let out = root().join("target/bench/report.md");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, &report).unwrap();
    let doc = root().join("docs/performance.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let (head, rest) = text.split_once(BEGIN).expect("docs/performance.md has the bench:begin marker");
    let (_, tail) = rest.split_once(END).expect("docs/performance.md has the bench:end marker");
    let date = Command::new("date").arg("-u").arg("+%Y-%m-%d").output().unwrap();
    let date = String::from_utf8_lossy(&date.stdout);
    std::fs::write(&doc, format!("{head}{BEGIN}\nMeasured {}.\n\n{report}{END}{tail}", date.trim())).unwrap();
    print!("{report}");
    println!("\nwritten to {} and {}", out.display(), doc.display());
}
