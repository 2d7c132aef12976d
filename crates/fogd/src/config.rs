//! Configuration files and environment variables for the services.
//!
//! Every flag of `fogd node|ingest|view|ledger|report` can also come from the environment,
//! as `FOG_` and the flag's name in capitals with `_` for `-` (`--recovery-db` is
//! `FOG_RECOVERY_DB`; a repeatable flag takes a comma-separated list; a switch takes `true` or
//! `false`), or from the TOML file named by `--config FILE` (or `FOG_CONFIG`), whose keys are
//! the flags' names (`recovery-db = "postgres://…"`, `node = ["http://a:3223", …]`,
//! `allow-test-blocks = true`), either at the top level or in a table named after the
//! command (`[view]`), so that one file can hold several services. The precedence is: the
//! command line, then the environment, then the file, then the defaults. A key the command
//! does not take, or a value of the wrong kind, is an error that names it; values are never
//! printed (a database URL may hold a password).

use std::{collections::BTreeSet, ffi::OsString, path::Path};

use clap::{ArgAction, Command};

use crate::{input, CliError};

/// The commands that take a configuration file.
pub const SERVICES: [&str; 5] = ["node", "ingest", "view", "ledger", "report"];

/// The environment variable that names a configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "FOG_CONFIG";

/// The environment variable that sets `--flag`.
pub fn env_name(flag: &str) -> String {
    format!("FOG_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// What one flag takes.
enum Kind {
    Switch,
    One,
    Many,
}

/// The long flags `argv` gives after the subcommand, and the `--config` value if any.
fn given(rest: &[OsString]) -> (BTreeSet<String>, Option<OsString>) {
    let mut flags = BTreeSet::new();
    let mut config = None;
    let mut iter = rest.iter().peekable();
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        let Some(long) = text.strip_prefix("--") else {
            continue;
        };
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(OsString::from(v))),
            None => (long, None),
        };
        if name == "config" {
            config = inline.or_else(|| iter.peek().map(|v| (*v).clone()));
        }
        flags.insert(name.to_string());
    }
    (flags, config)
}

fn toml_value(key: &str, value: &toml::Value, kind: &Kind) -> Result<Vec<String>, CliError> {
    let wrong = |what: &str| input(format!("configuration key {key:?}: {what}"));
    let scalar = |v: &toml::Value| -> Result<String, CliError> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            _ => Err(wrong("expected a string or a number")),
        }
    };
    match (kind, value) {
        (Kind::Switch, toml::Value::Boolean(b)) => {
            Ok(if *b { vec![String::new()] } else { vec![] })
        }
        (Kind::Switch, _) => Err(wrong("expected true or false")),
        (Kind::Many, toml::Value::Array(items)) => items.iter().map(scalar).collect(),
        (_, toml::Value::Array(_)) => Err(wrong("takes one value, not a list")),
        (_, v) => Ok(vec![scalar(v)?]),
    }
}

fn env_values(name: &str, raw: &str, kind: &Kind) -> Result<Vec<String>, CliError> {
    match kind {
        Kind::Switch => match raw.trim() {
            "true" | "1" => Ok(vec![String::new()]),
            "false" | "0" | "" => Ok(vec![]),
            _ => Err(input(format!("{name}: expected true or false"))),
        },
        Kind::Many => Ok(raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()),
        Kind::One => Ok(vec![raw.to_string()]),
    }
}

/// Reads and parses a configuration file, for `command`: its table, or the top level.
fn read_file(path: &Path, command: &str) -> Result<toml::Table, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        input(format!(
            "cannot read the configuration file {}: {e}",
            path.display()
        ))
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
        // The parser's message quotes the offending line; show only where it is.
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].lines().count().max(1);
                format!(" (line {line})")
            })
            .unwrap_or_default();
        input(format!("{} is not valid TOML{at}", path.display()))
    })?;
    if let Some(toml::Value::Table(own)) = table.remove(command) {
        return Ok(own);
    }
    // Tables of the other services are theirs; what is left is for this one.
    table.retain(|k, v| {
        let name: &str = k;
        !(SERVICES.contains(&name) && v.is_table())
    });
    Ok(table)
}

/// `argv` with the flags that the environment and the configuration file give for the
/// service command, inserted after the command name (flags on the command line win; the
/// environment beats the file). Other commands pass through unchanged.
pub fn expand(
    argv: Vec<OsString>,
    cli: &Command,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<OsString>, CliError> {
    let Some(name) = argv.get(1).and_then(|a| a.to_str()).map(str::to_string) else {
        return Ok(argv);
    };
    if !SERVICES.contains(&name.as_str()) {
        return Ok(argv);
    }
    let Some(command) = cli.find_subcommand(&name) else {
        return Ok(argv);
    };
    let (on_line, config) = given(&argv[2..]);
    let config = config.or_else(|| env(CONFIG_ENV).map(OsString::from));
    let mut file = match &config {
        Some(path) => read_file(Path::new(path), &name)?,
        None => toml::Table::new(),
    };
    let mut added: Vec<OsString> = Vec::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "config" || long == "help" {
            continue;
        }
        let kind = match arg.get_action() {
            ArgAction::SetTrue => Kind::Switch,
            ArgAction::Append => Kind::Many,
            ArgAction::Set => Kind::One,
            _ => continue,
        };
        let from_file = file.remove(long);
        if on_line.contains(long) {
            continue;
        }
        let env_key = env_name(long);
        let values = match env(&env_key) {
            Some(raw) => env_values(&env_key, &raw, &kind)?,
            None => match &from_file {
                Some(v) => toml_value(long, v, &kind)?,
                None => continue,
            },
        };
        for value in values {
            added.push(OsString::from(format!("--{long}")));
            if !matches!(kind, Kind::Switch) {
                added.push(OsString::from(value));
            }
        }
    }
    if let Some(unknown) = file.keys().next() {
        return Err(input(format!(
            "configuration key {unknown:?} is not a flag of `fogd {name}`"
        )));
    }
    let mut out = argv;
    let tail = out.split_off(2);
    out.extend(added);
    out.extend(tail);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::collections::BTreeMap;

    use clap::{CommandFactory, Parser};

    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn strings(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_str().unwrap().to_string()).collect()
    }

    fn expand_with(argv: &[&str], env: &[(&str, &str)]) -> Result<Vec<String>, CliError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        expand(args(argv), &crate::Cli::command(), |k| env.get(k).cloned()).map(|v| strings(&v))
    }

    #[test]
    fn the_command_line_beats_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fog.toml");
        std::fs::write(
            &file,
            r#"
            # for every service: nothing at the top level here
            [view]
            listen = "127.0.0.1:4000"
            recovery-db = "postgres://fog:s3cret@db/fog"
            state-dir = "/var/lib/fog/view"
            partitions = 2

            [ledger]
            node = ["http://a:3223", "http://b:3223"]
            "#,
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let out = expand_with(
            &["fogd", "view", "--config", f, "--listen", "127.0.0.1:5000"],
            &[("FOG_STATE_DIR", "/env/state")],
        )
        .unwrap();
        // The flag on the line stays and the file's listen is not added.
        assert_eq!(out.iter().filter(|a| *a == "--listen").count(), 1);
        assert!(out.windows(2).any(|w| w == ["--listen", "127.0.0.1:5000"]));
        assert!(out.windows(2).any(|w| w == ["--state-dir", "/env/state"]));
        assert!(out.windows(2).any(|w| w == ["--partitions", "2"]));
        assert!(out
            .windows(2)
            .any(|w| w == ["--recovery-db", "postgres://fog:s3cret@db/fog"]));
        // It parses into the command it configures.
        crate::Cli::try_parse_from(&out).unwrap();

        // A repeatable flag from a list, from the environment as a comma-separated list.
        let out = expand_with(&["fogd", "ledger", "--config", f], &[]).unwrap();
        assert_eq!(out.iter().filter(|a| *a == "--node").count(), 2);
        let out = expand_with(
            &["fogd", "ledger", "--config", f],
            &[("FOG_NODE", "http://c:1, http://d:2")],
        )
        .unwrap();
        assert!(out.windows(2).any(|w| w == ["--node", "http://c:1"]));
        assert!(out.windows(2).any(|w| w == ["--node", "http://d:2"]));
        assert!(!out.iter().any(|a| a == "http://a:3223"));

        // FOG_CONFIG names the file; switches from the environment.
        let out = expand_with(
            &[
                "fogd",
                "node",
                "--ledger-db",
                "l.redb",
                "--listen",
                "127.0.0.1:0",
            ],
            &[("FOG_ALLOW_TEST_BLOCKS", "true")],
        )
        .unwrap();
        assert!(out.iter().any(|a| a == "--allow-test-blocks"));
        let out = expand_with(&["fogd", "view"], &[("FOG_CONFIG", f)]).unwrap();
        assert!(out.iter().any(|a| a == "--partitions"));

        // Other commands pass through.
        let line = ["fogd", "ledger-tool", "sync", "--node", "x"];
        assert_eq!(expand_with(&line, &[("FOG_NODE", "y")]).unwrap(), line);
    }

    #[test]
    fn bad_files_and_values_are_clear_errors_that_never_show_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_string()
        };
        let msg = |r: Result<Vec<String>, CliError>| match r {
            Err(CliError::Input(m)) => m,
            other => panic!("expected an input error, got {other:?}"),
        };
        let unknown = write(
            "a.toml",
            "listen = \"x\"\nrecovery_db = \"postgres://u:pw@h/d\"\n",
        );
        let m = msg(expand_with(&["fogd", "view", "--config", &unknown], &[]));
        assert!(
            m.contains("\"recovery_db\" is not a flag of `fogd view`"),
            "{m}"
        );
        assert!(!m.contains("u:pw"), "{m}");
        let list = write("b.toml", "listen = [\"a\", \"b\"]\n");
        let m = msg(expand_with(&["fogd", "view", "--config", &list], &[]));
        assert!(m.contains("\"listen\"") && m.contains("not a list"), "{m}");
        let switch = write("c.toml", "allow-test-blocks = \"yes\"\n");
        let m = msg(expand_with(&["fogd", "node", "--config", &switch], &[]));
        assert!(m.contains("true or false"), "{m}");
        let broken = write(
            "d.toml",
            "listen = \"127.0.0.1:1\"\nrecovery-db = postgres://u:pw@h\n",
        );
        let m = msg(expand_with(&["fogd", "view", "--config", &broken], &[]));
        assert!(m.contains("not valid TOML (line 2)"), "{m}");
        assert!(!m.contains("u:pw"), "{m}");
        let m = msg(expand_with(
            &["fogd", "view", "--config", "/no/such/file.toml"],
            &[],
        ));
        assert!(m.contains("cannot read the configuration file"), "{m}");
        let m = msg(expand_with(
            &[
                "fogd",
                "node",
                "--ledger-db",
                "l",
                "--listen",
                "127.0.0.1:0",
            ],
            &[("FOG_ALLOW_TEST_BLOCKS", "maybe")],
        ));
        assert!(m.contains("FOG_ALLOW_TEST_BLOCKS"), "{m}");
    }
}
