#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::Value;

mod checks;

/// The environment variable that points the suite at another vector directory.
pub const ENV_VAR: &str = "FOG_TEST_VECTORS";

/// The directory the suite reads: `$FOG_TEST_VECTORS`, else `../shared/test-vectors` beside
/// the workspace.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors"),
    }
}

/// One line of one vector file.
pub struct Case<'a> {
    json: &'a Value,
}

/// A failed check, with the reason.
pub type CheckResult = Result<(), String>;

impl<'a> Case<'a> {
    fn field(&self, name: &str) -> Result<&'a Value, String> {
        self.json
            .get(name)
            .ok_or_else(|| format!("missing field `{name}`"))
    }

    /// A field holding lowercase hex.
    pub fn hex(&self, name: &str) -> Result<Vec<u8>, String> {
        let s = self
            .field(name)?
            .as_str()
            .ok_or_else(|| format!("field `{name}` is not a string"))?;
        hex::decode(s).map_err(|e| format!("field `{name}` is not hex: {e}"))
    }

    /// A field holding hex of exactly `N` bytes.
    pub fn hex_n<const N: usize>(&self, name: &str) -> Result<[u8; N], String> {
        let v = self.hex(name)?;
        v.as_slice()
            .try_into()
            .map_err(|_| format!("field `{name}` has {} bytes, expected {N}", v.len()))
    }

    /// A field holding a JSON array of byte values.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        self.field(name)?
            .as_array()
            .ok_or_else(|| format!("field `{name}` is not an array"))?
            .iter()
            .map(|b| {
                b.as_u64()
                    .and_then(|b| u8::try_from(b).ok())
                    .ok_or_else(|| format!("field `{name}` holds a non-byte"))
            })
            .collect()
    }

    /// A field holding a JSON array of exactly `N` byte values.
    pub fn bytes_n<const N: usize>(&self, name: &str) -> Result<[u8; N], String> {
        let v = self.bytes(name)?;
        v.as_slice()
            .try_into()
            .map_err(|_| format!("field `{name}` has {} bytes, expected {N}", v.len()))
    }

    /// A string field.
    pub fn str(&self, name: &str) -> Result<&'a str, String> {
        self.field(name)?
            .as_str()
            .ok_or_else(|| format!("field `{name}` is not a string"))
    }

    /// An unsigned integer field.
    pub fn u64(&self, name: &str) -> Result<u64, String> {
        self.field(name)?
            .as_u64()
            .ok_or_else(|| format!("field `{name}` is not an unsigned integer"))
    }

    /// A field holding a pair of unsigned integers, `[a, b]`.
    pub fn field_u64_pair(&self, name: &str) -> Result<(u64, u64), String> {
        let v = self
            .field(name)?
            .as_array()
            .ok_or_else(|| format!("field `{name}` is not an array"))?;
        match v.as_slice() {
            [a, b] => a
                .as_u64()
                .zip(b.as_u64())
                .ok_or_else(|| format!("field `{name}` holds a non-integer")),
            _ => Err(format!("field `{name}` is not a pair")),
        }
    }

    /// A field holding an array of unsigned integers.
    pub fn u64_list(&self, name: &str) -> Result<Vec<u64>, String> {
        self.field(name)?
            .as_array()
            .ok_or_else(|| format!("field `{name}` is not an array"))?
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| format!("field `{name}` holds a non-integer"))
            })
            .collect()
    }

    /// A boolean field.
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        self.field(name)?
            .as_bool()
            .ok_or_else(|| format!("field `{name}` is not a boolean"))
    }

    /// Whether a field is JSON null (or absent).
    pub fn is_null(&self, name: &str) -> bool {
        self.json.get(name).is_none_or(Value::is_null)
    }

    /// A nested object field.
    pub fn object(&self, name: &str) -> Result<Case<'a>, String> {
        let v = self.field(name)?;
        if v.is_object() {
            Ok(Case { json: v })
        } else {
            Err(format!("field `{name}` is not an object"))
        }
    }

    /// An array-of-hex-strings field.
    pub fn hex_list(&self, name: &str) -> Result<Vec<Vec<u8>>, String> {
        self.field(name)?
            .as_array()
            .ok_or_else(|| format!("field `{name}` is not an array"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("field `{name}` holds a non-string"))
                    .and_then(|s| hex::decode(s).map_err(|e| format!("`{name}`: {e}")))
            })
            .collect()
    }
}

/// Fails with `what` unless `ok`.
pub fn ensure(ok: bool, what: impl FnOnce() -> String) -> CheckResult {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// Fails unless `got == want`, showing both in hex.
pub fn ensure_eq_bytes(what: &str, got: &[u8], want: &[u8]) -> CheckResult {
    ensure(got == want, || {
        format!(
            "{what}: got {}, expected {}",
            hex::encode(got),
            hex::encode(want)
        )
    })
}

/// What the suite knows of a vector file.
pub enum Owner {
    /// Checked here, line by line.
    Checked(fn(&Case<'_>) -> CheckResult),
    /// Belongs to a later issue and is reported as not yet checked.
    Later(&'static str),
}

/// Every file the suite knows, by path relative to the vector directory.
pub fn registry() -> BTreeMap<&'static str, Owner> {
    checks::registry()
}

/// What one run found.
#[derive(Default)]
pub struct Report {
    /// (file, lines passed) for each checked file.
    pub passed: Vec<(String, usize)>,
    /// Files left to a later issue, with the reason.
    pub later: Vec<(String, &'static str)>,
    /// Every failure as `file:line: reason` (line numbers from 1).
    pub failures: Vec<String>,
}

impl Report {
    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (file, n) in &self.passed {
            let _ = writeln!(out, "{n:>4} passed  {file}");
        }
        for (file, why) in &self.later {
            let _ = writeln!(out, "   - later   {file} ({why})");
        }
        for f in &self.failures {
            let _ = writeln!(out, "FAILED {f}");
        }
        out
    }
}

fn jsonl_files(dir: &Path, base: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            jsonl_files(&path, base, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            let rel = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push(rel);
        }
    }
    Ok(())
}

/// Runs every check over every file under `dir`. A missing, unreadable or unknown file, a
/// line that is not JSON, and a line whose check fails are all failures.
pub fn run(dir: &Path) -> Report {
    let mut report = Report::default();
    let registry = registry();
    let mut present = Vec::new();
    if let Err(e) = jsonl_files(dir, dir, &mut present) {
        report.failures.push(format!(
            "{}: cannot read the vector directory: {e}",
            dir.display()
        ));
        return report;
    }
    present.sort();
    for file in &present {
        if !registry.contains_key(file.as_str()) {
            report.failures.push(format!(
                "{file}: unknown vector file (no check is registered for it)"
            ));
        }
    }
    for (file, owner) in &registry {
        let path = dir.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                report
                    .failures
                    .push(format!("{file}: missing or unreadable: {e}"));
                continue;
            }
        };
        let check = match owner {
            Owner::Checked(check) => check,
            Owner::Later(why) => {
                report.later.push((file.to_string(), why));
                continue;
            }
        };
        let mut passed = 0;
        let mut lines = 0;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            let result = serde_json::from_str::<Value>(line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|json| check(&Case { json: &json }));
            match result {
                Ok(()) => passed += 1,
                Err(why) => report.failures.push(format!("{file}:{}: {why}", i + 1)),
            }
        }
        if lines == 0 {
            report.failures.push(format!("{file}: holds no cases"));
        }
        report.passed.push((file.to_string(), passed));
    }
    report
}
