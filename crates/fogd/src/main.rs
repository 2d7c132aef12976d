#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod accounts;
mod attestation;
mod authority;
mod config;
mod follow;
mod generate;
mod host;
mod ingest;
mod ingest_admin;
mod ledger;
mod ledger_tool;
mod local_network;
mod node;
mod recovery_db;
mod report;
mod router;
mod view;
mod web;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, CommandFactory, Parser, Subcommand};

/// Fog's operator binary: the ledger node and the ledger tools.
#[derive(Debug, Parser)]
#[command(name = "fogd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ledger node on an existing ledger DB.
    Node(node::NodeArgs),
    /// Write a new ledger DB of real TxOuts to generated accounts, and their keys.
    GenerateLedger(generate::GenerateArgs),
    /// Create or extend a ledger DB by hand (scripted scenarios, tests).
    #[command(subcommand)]
    LedgerTool(LedgerTool),
    /// The fog authority: the certificate chain that signs ingest reports.
    #[command(subcommand)]
    Authority(Authority),
    /// Serve the signed ingest reports from the recovery DB.
    Report(report::ReportArgs),
    /// Run ingest: follow the ledger, write records and reports to the recovery DB.
    Ingest(ingest::IngestArgs),
    /// Call an ingest server's admin API: status, activate, retire, keys, peers.
    IngestAdmin(ingest_admin::IngestAdminArgs),
    /// Inspect the recovery DB (keys, invocations, missed ranges, reports); prune it.
    RecoveryDb(recovery_db::RecoveryDbArgs),
    /// Run view: load records from the recovery DB, answer attested queries.
    View(view::ViewArgs),
    /// Run a view router: clients' view queries answered by view stores of block ranges.
    ViewRouter(router::RouterArgs),
    /// Call a router's admin API: its stores, add or remove one.
    RouterAdmin(router::RouterAdminArgs),
    /// Run fog ledger: key-image checks, outputs with proofs, blocks, TxOut lookups.
    Ledger(ledger::LedgerArgs),
    /// Run a ledger router: fog ledger whose key-image checks key-image stores of block
    /// ranges answer.
    LedgerRouter(router::LedgerRouterArgs),
    /// Run the whole system in one process, with funded demo wallets (`--demo`: a scripted demo).
    LocalNetwork(local_network::LocalNetworkArgs),
}

#[derive(Debug, Subcommand)]
enum Authority {
    /// Create a root, intermediate and leaf certificate (Ed25519) and their keys.
    New(authority::NewArgs),
}

#[derive(Debug, Subcommand)]
enum LedgerTool {
    /// Create a ledger DB holding an origin block that funds the given accounts.
    Init(ledger_tool::InitArgs),
    /// Append one block crediting the given accounts and spending the given key images.
    AddBlock(ledger_tool::AddBlockArgs),
    /// Append a block saved by `add-block --out` to a ledger DB or to nodes.
    AppendBlock(ledger_tool::AppendBlockArgs),
    /// Copy a ledger from ledger nodes into a ledger DB, verifying every block.
    Sync(follow::SyncArgs),
}

/// Where a ledger DB is.
#[derive(Debug, Args)]
struct LedgerPath {
    /// The ledger DB file.
    #[arg(long = "ledger-db", value_name = "PATH")]
    ledger_db: PathBuf,
}

/// Why a command failed: bad input (exit code 2) or a failure while doing it (exit code 1).
#[derive(Debug)]
pub(crate) enum CliError {
    /// The arguments or the files they name are wrong; nothing was changed.
    Input(String),
    /// The command failed while running.
    Failed(String),
}

/// See [`fog_host::shutdown_signal`].
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    fog_host::shutdown_signal()
}

/// See [`fog_host::init_tracing`].
pub(crate) fn init_tracing() {
    fog_host::init_tracing();
}

pub(crate) fn input(msg: impl Into<String>) -> CliError {
    CliError::Input(msg.into())
}

pub(crate) fn failed(msg: impl Into<String>) -> CliError {
    CliError::Failed(msg.into())
}

/// Prints `error: ...` on one line and gives the exit code.
fn report(error: CliError) -> ExitCode {
    let (msg, code) = match error {
        CliError::Input(m) => (m, 2),
        CliError::Failed(m) => (m, 1),
    };
    let one_line = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("error: {one_line}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let argv = match config::expand(std::env::args_os().collect(), &Cli::command(), |k| {
        std::env::var(k).ok()
    }) {
        Ok(argv) => argv,
        Err(e) => return report(e),
    };
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
            // clap's message without its usage block, on one line.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            return report(input(message));
        }
    };
    let result = match cli.command {
        Command::Node(args) => node::run(args),
        Command::GenerateLedger(args) => generate::run(args),
        Command::LedgerTool(LedgerTool::Init(args)) => ledger_tool::init(args),
        Command::LedgerTool(LedgerTool::AddBlock(args)) => ledger_tool::add_block(args),
        Command::LedgerTool(LedgerTool::AppendBlock(args)) => ledger_tool::append_block(args),
        Command::LedgerTool(LedgerTool::Sync(args)) => follow::sync(args),
        Command::Authority(Authority::New(args)) => authority::new(args),
        Command::Report(args) => report::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::IngestAdmin(args) => ingest_admin::run(args),
        Command::RecoveryDb(args) => recovery_db::run(args),
        Command::View(args) => view::run(args),
        Command::ViewRouter(args) => router::run_view(args),
        Command::RouterAdmin(args) => router::run_admin(args),
        Command::Ledger(args) => ledger::run(args),
        Command::LedgerRouter(args) => router::run_ledger(args),
        Command::LocalNetwork(args) => local_network::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}
