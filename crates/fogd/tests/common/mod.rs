//! Helpers the `fogd` process tests share: running the binary, key files, and services
//! as child processes whose stderr is read line by line.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::{BufRead, BufReader, Lines},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use fog_account::AccountKey;
use serde_json::Value;

pub mod netns;
pub mod wallets;

pub fn fogd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fogd"))
}

pub fn run(args: &[&str]) -> Output {
    let out = fogd().args(args).output().unwrap();
    println!(
        "fogd {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn ok_json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn keyfile(dir: &Path, name: &str, account: &AccountKey) -> PathBuf {
    let json = serde_json::json!({
        "view_private_hex": hex::encode(&account.view_private_key().to_bytes()[..]),
        "spend_private_hex": hex::encode(&account.spend_private_key().to_bytes()[..]),
        "fog_report_url": account.fog_report_url(),
        "fog_report_id": account.fog_report_id(),
        "fog_authority_spki_hex": hex::encode(account.fog_authority_spki()),
    });
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// A `fogd` service, killed when dropped; its stderr read by a thread into a channel.
pub struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
    name: &'static str,
}

impl Service {
    pub fn start(name: &'static str, args: &[&str]) -> Self {
        Self::start_env(name, args, &[])
    }

    pub fn start_env(name: &'static str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let child = fogd()
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self::from_child(name, child)
    }

    /// A started child whose stderr is piped: its lines are printed and kept.
    pub fn from_child(name: &'static str, mut child: Child) -> Self {
        let stderr: Lines<BufReader<ChildStderr>> =
            BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.map_while(Result::ok) {
                println!("[{name}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, name }
    }

    /// The first line containing `needle` (within a minute).
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("{}: no line with {needle:?}: {e}", self.name),
            }
        }
    }

    /// The address a line ending in `... ADDR` or `addr=ADDR` names.
    pub fn wait_for_addr(&self, needle: &str) -> String {
        let line = self.wait_for(needle);
        let addr = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .rfind(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        addr.to_string()
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{} stopped with {exit}", self.name);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a one-line `error:` and exit code 2.
pub fn assert_input_error(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("fogd: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_string()
}
