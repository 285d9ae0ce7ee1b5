//! The Rust side of the web client's cross-implementation tests.
//!
//! `interop sframe <request.json> <response.json>`: installs the requested MLS epochs into one
//! [`MediaKeys`], encrypts the requested frames with it and decrypts the requested SFrame
//! ciphertexts, and writes what came out. The web client's Vitest suite
//! (`web/test/interop.test.ts`) writes the request at test time, with frames its own SFrame
//! code encrypted, runs this, and checks both directions; no fixture is committed.
//!
//! `interop mls`: a stateful MLS session (server view and Rust members) driven by JSON lines,
//! see [`mls`].
//!
//! Byte strings are lowercase hex; epochs and counters are decimal strings (they are u64, which
//! JSON numbers in JavaScript cannot hold exactly).

mod mls;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use e2ee::group::{Epoch, LeafIndex};
use e2ee::media::{MediaKeys, BASE_KEY_LEN};
use serde::{Deserialize, Serialize};

/// The most frames one request may carry; the tests need a handful.
const MAX_FRAMES: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Installed in this order, all at the same instant.
    epochs: Vec<EpochRequest>,
    /// Encrypted in the last epoch.
    encrypt: Vec<EncryptRequest>,
    decrypt: Vec<DecryptRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochRequest {
    epoch: String,
    base_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptRequest {
    sender: u32,
    frame: String,
    #[serde(default)]
    metadata: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecryptRequest {
    sframe: String,
    #[serde(default)]
    metadata: String,
}

#[derive(Serialize)]
struct Response {
    encrypted: Vec<String>,
    decrypted: Vec<Decrypted>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Decrypted {
    Ok {
        sender: u32,
        epoch: String,
        counter: String,
        payload: String,
    },
    Error(String),
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, request, response] if command == "sframe" => {
            sframe(Path::new(request), Path::new(response))
        }
        [command] if command == "mls" => mls::run(),
        _ => bail!("usage: interop sframe <request.json> <response.json> | interop mls"),
    }
}

fn sframe(request_path: &Path, response_path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(request_path)
        .with_context(|| format!("reading {}", request_path.display()))?;
    let request: Request = serde_json::from_str(&text).context("parsing the request")?;
    ensure!(
        request.encrypt.len() + request.decrypt.len() <= MAX_FRAMES,
        "at most {MAX_FRAMES} frames per request"
    );

    let now = Instant::now();
    let mut keys = MediaKeys::new();
    for epoch in &request.epochs {
        let number: u64 = epoch.epoch.parse().context("epoch is not a u64")?;
        let base_key: [u8; BASE_KEY_LEN] = hex(&epoch.base_key)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("a base key is {BASE_KEY_LEN} bytes"))?;
        keys.install_epoch(Epoch::new(number), base_key, now)?;
    }

    let mut encrypted = Vec::with_capacity(request.encrypt.len());
    for frame in &request.encrypt {
        let sframe = keys.encrypt_with_metadata(
            &hex(&frame.frame)?,
            &hex(&frame.metadata)?,
            LeafIndex::new(frame.sender),
        )?;
        encrypted.push(to_hex(&sframe));
    }

    let mut decrypted = Vec::with_capacity(request.decrypt.len());
    for frame in &request.decrypt {
        let outcome =
            match keys.decrypt_with_metadata(&hex(&frame.sframe)?, &hex(&frame.metadata)?, now) {
                Ok(frame) => Decrypted::Ok {
                    sender: frame.sender().value(),
                    epoch: frame.epoch().value().to_string(),
                    counter: frame.counter().to_string(),
                    payload: to_hex(frame.payload()),
                },
                Err(e) => Decrypted::Error(e.to_string()),
            };
        decrypted.push(outcome);
    }

    let response = serde_json::to_string_pretty(&Response {
        encrypted,
        decrypted,
    })?;
    std::fs::write(response_path, response)
        .with_context(|| format!("writing {}", response_path.display()))
}

fn hex(text: &str) -> anyhow::Result<Vec<u8>> {
    ensure!(text.len() % 2 == 0, "hex string of odd length");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .with_context(|| format!("not hex at offset {i}"))
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
