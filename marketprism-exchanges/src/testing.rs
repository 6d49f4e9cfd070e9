//! Test support: locating the shared corpus.

use std::path::PathBuf;

/// The corpus folder: `MARKETPRISM_CORPUS_DIR`, else `../shared/corpus` beside the workspace.
/// Panics with a clear message when it is missing (tests must not silently pass without it).
pub(crate) fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("MARKETPRISM_CORPUS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from,
    );
    assert!(
        dir.join("README.md").is_file(),
        "corpus not found at {} (set MARKETPRISM_CORPUS_DIR)",
        dir.display()
    );
    dir
}

/// Lines of `<exchange>/<file>` in the corpus (empty lines skipped).
pub(crate) fn corpus_lines(exchange: &str, file: &str) -> Vec<String> {
    let path = corpus_dir().join(exchange).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}
