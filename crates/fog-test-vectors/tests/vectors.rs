//! Runs every vector file, and shows that a corrupted vector is caught by file and line.
#![allow(clippy::unwrap_used)]

use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn every_vector_file_passes() {
    let dir = fog_test_vectors::vectors_dir();
    println!("test vectors from {}", dir.display());
    let report = fog_test_vectors::run(&dir);
    println!("{}", report.summary());
    assert!(
        report.failures.is_empty(),
        "{} vector failures:\n{}",
        report.failures.len(),
        report.summary()
    );
    assert!(!report.passed.is_empty());
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fog-vectors-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&fog_test_vectors::vectors_dir(), &dir);
    dir
}

#[test]
fn a_flipped_expected_byte_fails_naming_the_line() {
    let dir = scratch("flip");
    let file = dir.join("crypto_box/decrypt.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Flip one hex digit of the expected plaintext on line 2.
    let line = &mut lines[1];
    let at = line.find("\"plaintext_hex\":\"").unwrap() + "\"plaintext_hex\":\"".len();
    let old = line.as_bytes()[at];
    let new = if old == b'0' { '1' } else { '0' };
    line.replace_range(at..at + 1, &new.to_string());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let report = fog_test_vectors::run(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.failures.len(), 1, "{}", report.summary());
    assert!(
        report.failures[0].starts_with("crypto_box/decrypt.jsonl:2: plaintext"),
        "{}",
        report.failures[0]
    );
}

#[test]
fn missing_and_unknown_files_fail() {
    let dir = scratch("files");
    std::fs::remove_file(dir.join("kex_rng/outputs.jsonl")).unwrap();
    std::fs::write(dir.join("kex_rng/extra.jsonl"), "{}\n").unwrap();
    let report = fog_test_vectors::run(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let text = report.failures.join("\n");
    assert!(
        text.contains("kex_rng/outputs.jsonl: missing or unreadable"),
        "{text}"
    );
    assert!(
        text.contains("kex_rng/extra.jsonl: unknown vector file"),
        "{text}"
    );
}
