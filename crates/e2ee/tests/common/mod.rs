//! Shared by the integration tests: where the published test vectors live.

use std::path::PathBuf;

/// The `shared/test-vectors` folder: `$CONCLAVE_TEST_VECTORS` if set, else beside the
/// repository clone (`<manifest>/../../../shared/test-vectors`), as CI lays it out. Panics if it
/// is missing, so a missing checkout fails the suite instead of skipping the vectors.
pub fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("CONCLAVE_TEST_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors"),
    };
    assert!(
        dir.is_dir(),
        "test vectors not found at {} (set CONCLAVE_TEST_VECTORS to the shared/test-vectors folder)",
        dir.display()
    );
    dir
}

/// Decodes a hex string from a vector file.
pub fn hex(text: &str) -> Vec<u8> {
    assert!(
        text.len().is_multiple_of(2),
        "odd-length hex in vector: {text}"
    );
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit in vector"))
        .collect()
}
