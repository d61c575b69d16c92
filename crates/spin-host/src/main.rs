//! `spin-test-host up`: serves a Spin app on a loopback port the way
//! `spin up` does, for browser tests, benchmarks and multi-app topologies.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use spin_test_host::{App, AppOptions, LinkFault, ReuseLimits, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "Runs Spin 4.1 apps in-process, without the Spin CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app described by a manifest.
    Up(UpArgs),
    /// Forward HTTP to another address after a delay: a slow network link
    /// for region simulations, usable in front of `spin up` too. Lines on
    /// standard input change the link while it runs: `pass`, `delay MS`,
    /// `hang` (requests read, never answered) or `refuse` (connections
    /// refused).
    Proxy(ProxyArgs),
}

#[derive(clap::Args)]
struct ProxyArgs {
    #[arg(long)]
    listen: SocketAddr,
    /// Where to forward, e.g. `http://127.0.0.1:3001`.
    #[arg(long)]
    to: String,
    /// Round-trip milliseconds added to every request.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Start broken instead: `hang` or `refuse`.
    #[arg(long, value_parser = ["hang", "refuse"])]
    fault: Option<String>,
}

#[derive(clap::Args)]
struct UpArgs {
    #[arg(short = 'f', long = "manifest", default_value = "spin.toml")]
    manifest: PathBuf,
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where the default key-value store and SQLite database live
    /// (default: `.spin` beside the manifest, as with `spin up`).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Spin runtime configuration: key-value and SQLite backends.
    #[arg(long = "runtime-config-file")]
    runtime_config: Option<PathBuf>,
    /// Run only these components (selective deployment).
    #[arg(short = 'c', long = "component-id")]
    components: Vec<String>,
    /// Set a variable, like `spin up --variable name=value`.
    #[arg(long = "variable", value_parser = parse_pair)]
    variables: Vec<(String, String)>,
    #[arg(long, default_value_t = 128)]
    max_instance_reuse_count: usize,
    #[arg(long, default_value_t = 16)]
    max_instance_concurrent_reuse_count: usize,
    /// Milliseconds an idle instance is kept.
    #[arg(long, default_value_t = 1000)]
    idle_instance_timeout_ms: u64,
    /// Milliseconds a request may run before it gets a 500.
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Delay every outbound request to an authority: `host:port=MS`.
    #[arg(long = "link-delay", value_parser = parse_pair)]
    link_delays: Vec<(String, String)>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Proxy(args) => proxy(args).await,
    }
}

async fn proxy(args: ProxyArgs) -> Result<()> {
    use spin_test_host::proxy::{DelayProxy, parse_fault};
    let delay = Duration::from_millis(args.delay_ms);
    let fault = match &args.fault {
        Some(word) => parse_fault(word)?,
        None if delay.is_zero() => None,
        None => Some(LinkFault::Delay(delay)),
    };
    let proxy = std::sync::Arc::new(DelayProxy::with_fault(args.listen, &args.to, fault).await?);
    println!("Forwarding {} to {} ({fault:?})", proxy.url(), args.to);
    let commands = proxy.clone();
    // A plain thread: reading stdin blocks. When stdin is closed (e.g.
    // /dev/null) the link stays as it is.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            match parse_fault(&line) {
                Ok(fault) => commands.set(fault),
                Err(e) => eprintln!("proxy: {e:#}"),
            }
        }
    });
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn up(args: UpArgs) -> Result<()> {
    let state_dir = args.state_dir.unwrap_or_else(|| {
        args.manifest
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(".spin")
    });
    let mut options = AppOptions::new(&args.manifest);
    options.state_dir = Some(state_dir);
    options.runtime_config = args.runtime_config;
    options.env = std::env::vars()
        .filter(|(k, _)| k.starts_with("SPIN_VARIABLE_"))
        .collect();
    for (name, value) in args.variables {
        options = options.variable(&name, value);
    }
    if !args.components.is_empty() {
        options.components = Some(args.components);
    }
    options.reuse = ReuseLimits {
        max_requests: args.max_instance_reuse_count,
        max_concurrent: args.max_instance_concurrent_reuse_count,
        idle_timeout: Duration::from_millis(args.idle_instance_timeout_ms),
    };
    options.request_timeout = Duration::from_millis(args.request_timeout_ms);
    let app = App::start(options).await?;
    for (authority, ms) in args.link_delays {
        let ms: u64 = ms.parse().context("--link-delay takes milliseconds")?;
        app.links()
            .set(&authority, LinkFault::Delay(Duration::from_millis(ms)));
    }
    let server = Server::bind(app.clone(), args.listen).await?;
    println!("Serving {} on {}", app.name(), server.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
