//! Test support: locating the shared corpus, and OKX's checksum as its docs define it.

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

/// The checksum as OKX's docs define it: CRC32 of `bid1:ask1:bid2:ask2:...` over the best 25
/// levels per side (a side's missing entries skipped), each level given as its `px:sz` text,
/// best first. For tests: independent of the normalizer's `ChecksumText` and of the
/// simulator's own.
pub(crate) fn okx_docs_checksum(
    bids: impl IntoIterator<Item = String>,
    asks: impl IntoIterator<Item = String>,
) -> i32 {
    let (mut bids, mut asks) = (bids.into_iter().take(25), asks.into_iter().take(25));
    let mut parts = Vec::new();
    loop {
        let (b, a) = (bids.next(), asks.next());
        if b.is_none() && a.is_none() {
            break;
        }
        parts.extend(b);
        parts.extend(a);
    }
    crc32fast::hash(parts.join(":").as_bytes()) as i32
}
