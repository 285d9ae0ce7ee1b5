//! `conclave audit`: an independent monitor of a server's transparency log.
//!
//! Each run fetches the latest checkpoint and checks, in order:
//!
//! 1. its signature, against the log key pinned in the state file on first
//!    use (a checkpoint by any other key is a *bad signature*);
//! 2. that the log has not shrunk since the last checkpoint this monitor
//!    accepted (*truncated*), and the consistency proof from that checkpoint
//!    (*split view*);
//! 3. every entry, fetched from position 0: positions contiguous (a gap is a
//!    *missing* row), the entries leading to the root of the checkpoint seen
//!    before and of the new one (*rewritten*; the position is then located
//!    with inclusion proofs checked against the trusted root), and each
//!    entry's form (*malformed entry at index N*).
//!
//! All entries are re-read each run, not only the new ones: a row changed
//! underneath a running server is served as changed, and only a fresh look
//! at old entries catches that. Entries are hashed and checked as they
//! arrive and not kept; memory is about 64 bytes per entry (the rebuilt
//! tree).
//!
//! Exit codes: 0 and one summary line when all holds; 1 and one `audit
//! failed: ...` line naming the problem; 2 when the audit could not be done
//! (server unreachable, state file unusable). The state file is only
//! written after a run that passed, atomically (temporary file, fsync,
//! rename).

use std::io::Write;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ledger::{
    verify_consistency, verify_inclusion, Checkpoint, Entry, Hash, KeyDirectoryRecord, LeafIndex,
    MerkleTree, NoteVerifier, KEY_DIRECTORY_TAG,
};
use proto::ledger::{
    ConsistencyProof, InclusionProof, LedgerEntries, LedgerKey, MAX_LEDGER_PAGE_ENTRIES,
};
use serde::{Deserialize, Serialize};

/// Pages of entries fetched at once.
const CONCURRENT_PAGES: usize = 4;
/// Largest response body read (a page is at most about 2 MiB of entries,
/// which base64 and JSON inflate).
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Largest state file read.
const MAX_STATE_BYTES: u64 = 1024 * 1024;

/// Options of `conclave audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// The server's base URL, e.g. https://meet.example.org.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Where the pinned log key and the last accepted checkpoint are kept
    /// (created on first use).
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Audit again every SECS seconds until a check fails.
    #[arg(long, value_name = "SECS")]
    pub every: Option<NonZeroU64>,
}

/// What the monitor remembers between runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditState {
    /// The log's origin, pinned on first use.
    pub origin: String,
    /// The log's signed-note verifier key, pinned on first use.
    pub verifier_key: String,
    /// Size of the last accepted checkpoint.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// The checkpoint note itself, as evidence.
    pub checkpoint: String,
}

/// A run that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    /// The log's origin.
    pub origin: String,
    /// Size of the checkpoint now accepted.
    pub size: u64,
    /// Size accepted before (0 on first use).
    pub previous_size: u64,
    /// The new root.
    pub root: Hash,
}

impl std::fmt::Display for AuditSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: {} size {} root {}: {} new entries, consistent with size {}, all {} entries verified",
            self.origin,
            self.size,
            self.root.to_base64(),
            self.size - self.previous_size,
            self.previous_size,
            self.size
        )
    }
}

/// Why a run did not pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log misbehaved (exit 1).
    #[error("audit failed: {0}")]
    Log(#[from] LogProblem),
    /// The audit could not be carried out (exit 2).
    #[error("audit not done: {0}")]
    Unable(String),
}

/// What is wrong with the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogProblem {
    /// The checkpoint is not validly signed by the pinned key for the pinned origin.
    #[error("bad signature: the checkpoint is not signed by the pinned log key {key_id} for {origin} ({detail})")]
    BadSignature {
        /// The pinned origin.
        origin: String,
        /// The pinned key's id.
        key_id: String,
        /// What the check said.
        detail: String,
    },
    /// The log is smaller than a checkpoint accepted before.
    #[error("truncated log: the checkpoint has {size} entries, fewer than the {seen} seen before")]
    Truncated {
        /// Size now.
        size: u64,
        /// Size accepted before.
        seen: u64,
    },
    /// The new checkpoint is not an extension of the one seen before.
    #[error("split view: the checkpoint at size {size} is not consistent with the one at size {seen} seen before ({detail})")]
    SplitView {
        /// Size now.
        size: u64,
        /// Size accepted before.
        seen: u64,
        /// What the check said.
        detail: String,
    },
    /// A position within the checkpoint has no entry.
    #[error("missing entry: the log has no entry at index {index} (row deleted or log truncated)")]
    Missing {
        /// The position.
        index: u64,
    },
    /// The served entries do not lead to a signed root.
    #[error("rewritten log: entry at index {index} differs from what the checkpoint at size {size} committed to")]
    Rewritten {
        /// The (located) position.
        index: u64,
        /// The size of the checkpoint it contradicts.
        size: u64,
    },
    /// An entry is not well-formed.
    #[error("malformed entry at index {index}: {detail}")]
    Malformed {
        /// The position.
        index: u64,
        /// What the parser said.
        detail: String,
    },
}

/// Runs `audit` and says how the process should exit.
pub fn main(args: AuditArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("audit not done: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        loop {
            match audit(&args.server, &args.state).await {
                Ok(summary) => {
                    let mut stdout = std::io::stdout().lock();
                    let _ = writeln!(stdout, "{summary}");
                    let _ = stdout.flush();
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(match e {
                        AuditError::Log(_) => 1,
                        AuditError::Unable(_) => 2,
                    });
                }
            }
            match args.every {
                Some(secs) => tokio::time::sleep(Duration::from_secs(secs.get())).await,
                None => return ExitCode::SUCCESS,
            }
        }
    })
}

/// One audit run against `server`, with the state kept in `state_path`.
pub async fn audit(server: &str, state_path: &Path) -> Result<AuditSummary, AuditError> {
    let log = Log::new(server)?;
    let previous = load_state(state_path)?;
    let (origin, verifier_key) = match &previous {
        Some(state) => (state.origin.clone(), state.verifier_key.clone()),
        None => {
            let key: LedgerKey = log.json("/api/v1/ledger/key").await?;
            (key.origin, key.verifier_key)
        }
    };
    let verifier: NoteVerifier = verifier_key.parse().map_err(|e| {
        AuditError::Unable(format!(
            "the log key {verifier_key:?} is not a note key: {e}"
        ))
    })?;

    // 1. The signature.
    let note = log.text("/api/v1/ledger/checkpoint").await?;
    let opened = Checkpoint::open(note.as_bytes(), &origin, std::slice::from_ref(&verifier))
        .map_err(|e| LogProblem::BadSignature {
            origin: origin.clone(),
            key_id: verifier.key_id().to_string(),
            detail: e.to_string(),
        })?;
    let checkpoint = opened.checkpoint();
    let (size, root) = (checkpoint.size(), checkpoint.root());

    // 2. Growth and consistency with what was accepted before.
    let (seen, seen_root) = match &previous {
        Some(state) => {
            let seen_root = Hash::from_base64(&state.root)
                .map_err(|e| AuditError::Unable(format!("state file root is not a hash: {e}")))?;
            (state.size, seen_root)
        }
        None => (0, Hash::empty_root()),
    };
    if size < seen {
        return Err(LogProblem::Truncated { size, seen }.into());
    }
    if seen > 0 {
        let proof: ConsistencyProof = log
            .json(&format!(
                "/api/v1/ledger/proofs/consistency?old={seen}&new={size}"
            ))
            .await?;
        let hashes = decode_hashes(&proof.proof)?;
        verify_consistency(seen, size, &hashes, &seen_root, &root).map_err(|e| {
            LogProblem::SplitView {
                size,
                seen,
                detail: e.to_string(),
            }
        })?;
    }

    // 3. Every entry.
    let fetched = log.entries(size).await?;
    let tree = MerkleTree::from_leaf_hashes(fetched.leaf_hashes);
    for (trusted_size, trusted_root) in [(seen, seen_root), (size, root)] {
        if tree.root_at(trusted_size).ok() != Some(trusted_root) {
            let index = locate(&log, &tree, trusted_size, &trusted_root).await?;
            return Err(LogProblem::Rewritten {
                index,
                size: trusted_size,
            }
            .into());
        }
    }
    if let Some((index, detail)) = fetched.first_malformed {
        return Err(LogProblem::Malformed { index, detail }.into());
    }

    save_state(
        state_path,
        &AuditState {
            origin: origin.clone(),
            verifier_key,
            size,
            root: root.to_base64(),
            checkpoint: note,
        },
    )?;
    Ok(AuditSummary {
        origin,
        size,
        previous_size: seen,
        root,
    })
}

/// Checks an entry's envelope, and the body of the types this monitor knows.
fn check_form(data: &[u8]) -> Result<(), String> {
    let entry = Entry::decode(data).map_err(|e| e.to_string())?;
    if entry.tag().as_str() == KEY_DIRECTORY_TAG {
        KeyDirectoryRecord::from_entry(&entry).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Finds a position whose served entry is not the one the trusted root
/// (`size`, `root`) commits to, given that the served entries (in `tree`)
/// do not lead to that root.
///
/// Inclusion proofs from the server are used only after they verify against
/// the trusted root, so their hashes are the log's real subtree hashes.
/// Walking down from the whole tree, each step takes a subtree whose real
/// hash differs from the one the served entries give, until the entry itself
/// is the difference: at most one proof per tree level.
async fn locate(log: &Log, tree: &MerkleTree, size: u64, root: &Hash) -> Result<u64, AuditError> {
    let (mut low, mut high) = (0, size);
    loop {
        let index = low;
        let proof: InclusionProof = log
            .json(&format!(
                "/api/v1/ledger/proofs/inclusion?index={index}&size={size}"
            ))
            .await?;
        let real = decode_hashes(&proof.proof)?;
        let Some(leaf) = tree.leaf_hash(LeafIndex(index)) else {
            return Ok(index);
        };
        if verify_inclusion(&leaf, LeafIndex(index), size, &real, root).is_err() {
            return Ok(index);
        }
        let served = tree
            .inclusion_proof(LeafIndex(index), size)
            .map_err(|e| AuditError::Unable(e.to_string()))?;
        let differing = sibling_ranges(index, size)
            .into_iter()
            .zip(served.iter().zip(&real))
            .filter(|((start, end), (ours, theirs))| {
                ours != theirs && *start >= low && *end <= high
            })
            .map(|(range, _)| range)
            .max_by_key(|(start, end)| end - start);
        match differing {
            Some((start, end)) => (low, high) = (start, end),
            // The served entry verifies and nothing inside the range differs:
            // impossible for honest hashing, so name the range's start.
            None => return Ok(low),
        }
    }
}

/// The leaf ranges of the siblings on the audit path of `index` in a tree
/// of `size` leaves, lowest first (in the order of the proof's hashes).
fn sibling_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let len = end - start;
        let split = start + (1u64 << (63 - (len - 1).leading_zeros()));
        if index < split {
            ranges.push((split, end));
            end = split;
        } else {
            ranges.push((start, split));
            start = split;
        }
    }
    ranges.reverse();
    ranges
}

fn decode_hashes(encoded: &[String]) -> Result<Vec<Hash>, AuditError> {
    encoded
        .iter()
        .map(|text| Hash::from_base64(text))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            AuditError::Unable(format!("the server sent a proof hash that is not one: {e}"))
        })
}

/// What was learnt from fetching every entry.
struct Fetched {
    leaf_hashes: Vec<Hash>,
    /// The first entry whose form is wrong, and what is wrong with it.
    first_malformed: Option<(u64, String)>,
}

/// One fetched entry, reduced to what the audit keeps.
struct Leaf {
    index: u64,
    hash: Hash,
    malformed: Option<String>,
}

/// The server's public ledger API.
struct Log {
    base: String,
    http: reqwest::Client,
}

impl Log {
    fn new(server: &str) -> Result<Log, AuditError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| AuditError::Unable(format!("cannot make an HTTP client: {e}")))?;
        Ok(Log {
            base: server.trim_end_matches('/').to_owned(),
            http,
        })
    }

    async fn body(&self, path: &str) -> Result<Vec<u8>, AuditError> {
        let url = format!("{}{path}", self.base);
        let unable = |e: reqwest::Error| AuditError::Unable(format!("GET {url}: {e}"));
        let mut response = self.http.get(&url).send().await.map_err(unable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unable)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(AuditError::Unable(format!(
                    "GET {url}: the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(300).collect();
            return Err(AuditError::Unable(format!("GET {url}: {status}: {text}")));
        }
        Ok(body)
    }

    async fn text(&self, path: &str) -> Result<String, AuditError> {
        String::from_utf8(self.body(path).await?)
            .map_err(|_| AuditError::Unable(format!("GET {path}: the answer is not UTF-8")))
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, AuditError> {
        let body = self.body(path).await?;
        serde_json::from_slice(&body)
            .map_err(|e| AuditError::Unable(format!("GET {path}: unexpected answer: {e}")))
    }

    /// The leaf hash of every entry in `0..size`, in order, with gaps
    /// reported as missing; entries are checked for form on the way and
    /// not kept.
    async fn entries(&self, size: u64) -> Result<Fetched, AuditError> {
        let starts = (0..size).step_by(usize::try_from(MAX_LEDGER_PAGE_ENTRIES).unwrap_or(1000));
        let pages: Vec<Vec<Leaf>> = stream::iter(starts)
            .map(|start| self.range(start, size.min(start + MAX_LEDGER_PAGE_ENTRIES)))
            .buffered(CONCURRENT_PAGES)
            .try_collect()
            .await?;
        let mut fetched = Fetched {
            leaf_hashes: Vec::with_capacity(usize::try_from(size).unwrap_or(0)),
            first_malformed: None,
        };
        for leaf in pages.into_iter().flatten() {
            let expected = fetched.leaf_hashes.len() as u64;
            if leaf.index != expected {
                return Err(LogProblem::Missing { index: expected }.into());
            }
            fetched.leaf_hashes.push(leaf.hash);
            if let (None, Some(detail)) = (&fetched.first_malformed, leaf.malformed) {
                fetched.first_malformed = Some((leaf.index, detail));
            }
        }
        let count = fetched.leaf_hashes.len() as u64;
        if count != size {
            return Err(LogProblem::Missing { index: count }.into());
        }
        Ok(fetched)
    }

    /// The entries in `start..end`, following `next` when a page is cut short.
    async fn range(&self, start: u64, end: u64) -> Result<Vec<Leaf>, AuditError> {
        let mut out = Vec::new();
        let mut from = start;
        while from < end {
            let page: LedgerEntries = self
                .json(&format!("/api/v1/ledger/entries?start={from}&end={end}"))
                .await?;
            if page.next <= from || page.next > end {
                return Err(AuditError::Unable(format!(
                    "the server's page of entries from {from} ends at {}, which does not advance",
                    page.next
                )));
            }
            for entry in page.entries {
                if entry.index < from || entry.index >= page.next {
                    return Err(AuditError::Unable(format!(
                        "the server sent entry {} in a page for {from}..{}",
                        entry.index, page.next
                    )));
                }
                let data = BASE64
                    .decode(&entry.data)
                    .map_err(|_| LogProblem::Malformed {
                        index: entry.index,
                        detail: "entry data is not base64".into(),
                    })?;
                out.push(Leaf {
                    index: entry.index,
                    hash: ledger::leaf_hash(&data),
                    malformed: check_form(&data).err(),
                });
            }
            from = page.next;
        }
        Ok(out)
    }
}

fn load_state(path: &Path) -> Result<Option<AuditState>, AuditError> {
    let unable =
        |what: String| AuditError::Unable(format!("state file {}: {what}", path.display()));
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unable(e.to_string())),
    };
    if meta.len() > MAX_STATE_BYTES {
        return Err(unable(format!("larger than {MAX_STATE_BYTES} bytes")));
    }
    let text = std::fs::read(path).map_err(|e| unable(e.to_string()))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| unable(format!("not an audit state: {e}")))
}

fn save_state(path: &Path, state: &AuditState) -> Result<(), AuditError> {
    let unable = |e: std::io::Error| {
        AuditError::Unable(format!("cannot write state file {}: {e}", path.display()))
    };
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(unable)?;
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| AuditError::Unable(format!("cannot encode the state: {e}")))?;
    temp.write_all(&json).map_err(unable)?;
    temp.as_file().sync_all().map_err(unable)?;
    temp.persist(path).map_err(|e| unable(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(unable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_form_is_checked_by_envelope_and_known_body() {
        let record = KeyDirectoryRecord {
            account_id: "acct".into(),
            version: 1,
            public_key: [1; 32],
            registered_at: 5,
            previous_key: None,
        };
        let good = record.to_entry().expect("entry").encode();
        assert_eq!(check_form(&good), Ok(()));
        let unknown = Entry::new(
            ledger::EntryTag::new("oversight.x").expect("tag"),
            vec![0xff],
        )
        .expect("entry")
        .encode();
        assert_eq!(
            check_form(&unknown),
            Ok(()),
            "unknown tags pass on envelope alone"
        );
        let mut truncated = good.clone();
        truncated.pop();
        assert!(check_form(&truncated).is_err());
        let bad_body = Entry::new(
            ledger::EntryTag::new(KEY_DIRECTORY_TAG).expect("tag"),
            b"{}".to_vec(),
        )
        .expect("entry")
        .encode();
        assert!(check_form(&bad_body)
            .expect_err("bad body")
            .contains("JSON"));
    }

    #[test]
    fn sibling_ranges_follow_the_proof_order() {
        let mut tree = MerkleTree::new();
        for i in 0u32..13 {
            tree.append(&i.to_be_bytes());
        }
        for size in 1..=13u64 {
            for index in 0..size {
                let ranges = sibling_ranges(index, size);
                let proof = tree.inclusion_proof(LeafIndex(index), size).expect("proof");
                assert_eq!(ranges.len(), proof.len());
                for ((start, end), hash) in ranges.iter().zip(&proof) {
                    let sub = MerkleTree::from_leaf_hashes(
                        (*start..*end).map(|i| tree.leaf_hash(LeafIndex(i)).expect("leaf")),
                    );
                    assert_eq!(sub.root(), *hash, "index {index} size {size}");
                }
            }
        }
    }
}
