//! The transparency log as a running service: the `ledger` crate's sans-IO
//! tree and checkpoints, the `storage` crate's append-only tables, and one
//! writer task between them.
//!
//! Why here: the service needs tokio, the store and the server's start-up
//! errors, and the `ledger` crate is deliberately free of all three. Anything
//! in the server that records something in the log (the key directory now,
//! the oversight shell later) holds a [`LedgerService`] and calls
//! [`LedgerService::append`].
//!
//! Flow of an append: callers send entries to the writer task; it takes
//! every request waiting (up to [`MAX_BATCH_ENTRIES`]), computes the new root
//! on a [`Frontier`] copy, signs the checkpoint and writes the entries and the
//! checkpoint in one transaction. Only after the commit does it add the leaf
//! hashes to the shared tree, publish the checkpoint and tell each caller its
//! index. So every published checkpoint covers only durable entries, and a
//! failed write leaves the tree as it was.
//!
//! Memory: the whole tree stays in memory, about 64 bytes per entry (32 for
//! the leaf hash and at most as much again for interior nodes), i.e. 64 MiB
//! per million entries; proofs then need no database read. On start the
//! tree is rebuilt from the stored entries, whose leaf hashes are recomputed
//! and checked against the stored ones and against the latest stored
//! checkpoint, so a log altered underneath the server stops it from starting.
//! The log is never rewritten: start-up only reads, and at most appends a
//! checkpoint.

pub mod key;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use ledger::{
    Checkpoint, Entry, Frontier, Hash, KeyDirectoryRecord, LeafIndex, MerkleTree, NoteSigner,
    NoteVerifier, SignedNote, TreeError, KEY_DIRECTORY_TAG,
};
use storage::{NewLedgerCheckpoint, NewLedgerEntry, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most entries written in one transaction.
pub const MAX_BATCH_ENTRIES: usize = 2048;

/// Entries read per query when the tree is rebuilt on start.
const RELOAD_PAGE: u64 = 10_000;

/// Where the log's signing key comes from and what the log is called.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// The checkpoint origin (and key name), e.g. `meet.example.org/conclave-log`.
    pub origin: String,
    /// The key file; `None` means `ledger.key` in the SQLite data directory.
    pub key_file: Option<PathBuf>,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            origin: "localhost/conclave-log".into(),
            key_file: None,
        }
    }
}

/// The log: append typed entries, read entries, checkpoints and proofs.
/// Cheap to clone.
#[derive(Clone)]
pub struct LedgerService {
    shared: Arc<Shared>,
    writer: mpsc::Sender<AppendJob>,
}

/// What a successful append tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The entry's position.
    pub index: LeafIndex,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// Size of the first published checkpoint that covers it.
    pub checkpoint_size: u64,
}

/// The latest published checkpoint.
#[derive(Debug, Clone)]
pub struct Published {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note text.
    pub note: String,
}

/// An entry with the proof that it is in the latest checkpoint.
#[derive(Debug, Clone)]
pub struct ProvenEntry {
    /// Position.
    pub index: LeafIndex,
    /// The encoded entry.
    pub entry: Vec<u8>,
    /// The checkpoint the proof leads to.
    pub checkpoint: Published,
    /// Inclusion proof of `index` in the checkpoint's tree.
    pub proof: Vec<Hash>,
}

/// Why a request to the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Storage failed; nothing of the batch was written.
    #[error("ledger storage: {0}")]
    Store(#[from] StoreError),
    /// A tree size or index outside what the log has published.
    #[error("{0}")]
    Range(#[from] TreeError),
    /// A range request was malformed (start after end, page too long).
    #[error("{0}")]
    BadRange(String),
    /// A batch could not be written; nothing of it was stored.
    #[error("ledger append failed: {0}")]
    AppendFailed(String),
    /// A stored entry does not match the leaf hash the log holds for it.
    #[error("stored ledger entry {index} is missing or altered")]
    StoredEntry {
        /// Its position.
        index: u64,
    },
    /// The writer stopped: after a failed write whose outcome is unknown, or
    /// at shutdown. The server must be restarted to append again.
    #[error("the ledger writer has stopped; restart the server")]
    WriterStopped,
}

/// Why an identity-key change failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyChangeError {
    /// The log could not record it; the key was not stored either.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The key history could not be read or written.
    #[error("identity key history: {0}")]
    Store(#[from] StoreError),
}

/// Why the log could not start. Each names what to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerStartError {
    /// The key file.
    #[error(transparent)]
    Key(#[from] key::KeyFileError),
    /// With a database URL the key file must be given.
    #[error("with --database-url the ledger key must be given with --ledger-key-file")]
    NoKeyFile,
    /// The origin is not a valid key name (no spaces or '+').
    #[error("ledger origin {0:?} is not usable: one line without spaces or '+'")]
    Origin(String),
    /// Storage failed.
    #[error("ledger storage: {0}")]
    Store(#[from] StoreError),
    /// A position has no row: the log was cut.
    #[error(
        "ledger entry {index} is missing from storage; the log was altered outside the server"
    )]
    Missing {
        /// The first missing position.
        index: u64,
    },
    /// A row's stored leaf hash does not match its entry.
    #[error("ledger entry {index} does not match its stored leaf hash; the log was altered outside the server")]
    Altered {
        /// The position.
        index: u64,
    },
    /// The stored entries end before the latest checkpoint's size.
    #[error("storage holds {stored} ledger entries but the latest checkpoint covers {checkpoint}; the log was truncated outside the server")]
    Truncated {
        /// Entries found.
        stored: u64,
        /// The checkpoint's size.
        checkpoint: u64,
    },
    /// The rebuilt tree disagrees with the latest checkpoint.
    #[error("the stored ledger entries do not lead to the latest checkpoint's root at size {size}; the log was rewritten outside the server")]
    Rewritten {
        /// The checkpoint's size.
        size: u64,
    },
    /// The latest stored checkpoint is not a checkpoint note.
    #[error("the latest stored ledger checkpoint is malformed: {0}")]
    MalformedCheckpoint(String),
}

struct Shared {
    store: Store,
    origin: String,
    verifier: NoteVerifier,
    tree: RwLock<MerkleTree>,
    published: RwLock<Published>,
    /// Held while an identity key is logged and stored.
    key_changes: tokio::sync::Mutex<()>,
}

struct AppendJob {
    entries: Vec<(Entry, Option<String>)>,
    reply: oneshot::Sender<Result<Vec<Appended>, LedgerError>>,
}

impl LedgerService {
    /// Loads the key, rebuilds the tree from storage, checks it against the
    /// latest stored checkpoint and starts the writer. `data_dir` is where
    /// the key lives when `settings.key_file` is `None`.
    pub async fn open(
        store: Store,
        settings: &LedgerSettings,
        data_dir: Option<&std::path::Path>,
    ) -> Result<LedgerService, LedgerStartError> {
        let key_path = match (&settings.key_file, data_dir) {
            (Some(path), _) => path.clone(),
            (None, Some(dir)) => dir.join(key::LEDGER_KEY_FILE),
            (None, None) => return Err(LedgerStartError::NoKeyFile),
        };
        // A small file read once at start; not worth a blocking task.
        let signing_key = key::load_or_create(&key_path)?;
        let signer = NoteSigner::new(&settings.origin, signing_key)
            .map_err(|_| LedgerStartError::Origin(settings.origin.clone()))?;
        Checkpoint::new(&settings.origin, 0, Hash::empty_root())
            .map_err(|_| LedgerStartError::Origin(settings.origin.clone()))?;
        let tree = reload_tree(&store).await?;
        let published = restore_checkpoint(&store, &tree, &signer, &settings.origin).await?;
        tracing::info!(
            entries = tree.size(),
            key_id = %signer.key_id(),
            "ledger loaded"
        );
        let frontier = tree.frontier();
        let shared = Arc::new(Shared {
            store,
            origin: settings.origin.clone(),
            verifier: signer.verifier(),
            tree: RwLock::new(tree),
            published: RwLock::new(published),
            key_changes: tokio::sync::Mutex::new(()),
        });
        let (writer, jobs) = mpsc::channel(MAX_BATCH_ENTRIES);
        tokio::spawn(run_writer(shared.clone(), signer, frontier, jobs));
        Ok(LedgerService { shared, writer })
    }

    /// Appends one entry; returns once it is durable and covered by a
    /// published checkpoint. `subject` (an account or request id) lets
    /// [`LedgerService::latest_index_for`] find it; readers never trust it.
    pub async fn append(
        &self,
        entry: Entry,
        subject: Option<&str>,
    ) -> Result<Appended, LedgerError> {
        let mut done = self
            .append_many(vec![(entry, subject.map(str::to_owned))])
            .await?;
        done.pop().ok_or(LedgerError::WriterStopped)
    }

    /// Appends several entries at consecutive positions, in one transaction.
    pub async fn append_many(
        &self,
        entries: Vec<(Entry, Option<String>)>,
    ) -> Result<Vec<Appended>, LedgerError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(AppendJob { entries, reply })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        answer.await.map_err(|_| LedgerError::WriterStopped)?
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The signed-note verifier key clients pin.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.shared.verifier
    }

    /// The latest published checkpoint.
    pub fn checkpoint(&self) -> Published {
        self.shared.published().clone()
    }

    /// Stored entries in `start..end` (`end` at most the published size, at
    /// most `max_entries` after `start`), cut short after `max_bytes`.
    /// Returns the rows and where the next page starts.
    pub async fn entries(
        &self,
        start: u64,
        end: u64,
        max_entries: u64,
        max_bytes: usize,
    ) -> Result<(Vec<storage::LedgerEntryRow>, u64), LedgerError> {
        let size = self.shared.published().size;
        if start > end {
            return Err(LedgerError::BadRange(format!(
                "start {start} is after end {end}"
            )));
        }
        if end > size {
            return Err(TreeError::SizeBeyondTree {
                size: end,
                tree_size: size,
            }
            .into());
        }
        if end - start > max_entries {
            return Err(LedgerError::BadRange(format!(
                "a page holds at most {max_entries} entries; ask for start..start+{max_entries}"
            )));
        }
        if start == end {
            return Ok((Vec::new(), end));
        }
        let page = self
            .shared
            .store
            .ledger_entries(start, end, max_bytes)
            .await?;
        Ok((page.rows, page.next))
    }

    /// The inclusion proof of `index` in the tree of `size` entries (at most
    /// the published size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_published(size)?;
        Ok(self
            .shared
            .tree()?
            .inclusion_proof(LeafIndex(index), size)?)
    }

    /// The consistency proof between two published sizes.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_published(new)?;
        Ok(self.shared.tree()?.consistency_proof(old, new)?)
    }

    /// Position of the newest entry with `tag` appended with this `subject`.
    pub async fn latest_index_for(
        &self,
        tag: &str,
        subject: &str,
    ) -> Result<Option<LeafIndex>, LedgerError> {
        let index = self
            .shared
            .store
            .latest_ledger_index_for(tag, subject)
            .await?;
        // An entry appended but not yet published is not offered.
        let size = self.shared.published().size;
        Ok(index.filter(|&i| i < size).map(LeafIndex))
    }

    /// The entry at `index` with its inclusion proof in the latest
    /// checkpoint (what a notice or a key lookup hands to a client).
    pub async fn proven_entry(&self, index: LeafIndex) -> Result<ProvenEntry, LedgerError> {
        let checkpoint = self.checkpoint();
        let proof = self.inclusion_proof(index.0, checkpoint.size)?;
        let row = self
            .shared
            .store
            .ledger_entries(index.0, index.0 + 1, usize::MAX)
            .await?
            .rows
            .pop()
            .filter(|row| row.index == index.0)
            .ok_or(LedgerError::StoredEntry { index: index.0 })?;
        // Hand out only what the tree committed to: a row changed under the
        // server would otherwise reach a client with a proof that fails.
        if Some(ledger::leaf_hash(&row.entry)) != self.shared.tree()?.leaf_hash(index) {
            return Err(LedgerError::StoredEntry { index: index.0 });
        }
        Ok(ProvenEntry {
            index,
            entry: row.entry,
            checkpoint,
            proof,
        })
    }

    /// The current key-directory entry of an account, with its proof.
    pub async fn key_directory_entry(
        &self,
        account_id: &str,
    ) -> Result<Option<ProvenEntry>, LedgerError> {
        match self.latest_index_for(KEY_DIRECTORY_TAG, account_id).await? {
            Some(index) => Ok(Some(self.proven_entry(index).await?)),
            None => Ok(None),
        }
    }

    /// Registers a new identity key for `account`: logs it in the key
    /// directory, durably, and only then adds it to the store's key history.
    ///
    /// The log comes first so that the server never hands out a key the log
    /// lacks; if the second step fails the log shows a key the directory
    /// does not serve, which clients notice rather than trust. Key changes
    /// are serialized so that the logged version and previous-key hash match
    /// the history row that follows.
    pub async fn register_identity_key(
        &self,
        account: &proto::ids::AccountId,
        public_key: &[u8; 32],
        now: i64,
    ) -> Result<(storage::IdentityKeyRow, Appended), KeyChangeError> {
        let _one_at_a_time = self.shared.key_changes.lock().await;
        let history = self.shared.store.identity_keys(account).await?;
        let previous = history.last();
        let version = previous.map_or(1, |row| row.version + 1);
        let record = KeyDirectoryRecord {
            account_id: account.as_str().to_owned(),
            version: u64::try_from(version).map_err(|_| {
                KeyChangeError::Ledger(LedgerError::AppendFailed(format!(
                    "identity key version {version} is not positive"
                )))
            })?,
            public_key: *public_key,
            registered_at: now,
            previous_key: previous.map(|row| KeyDirectoryRecord::key_hash(&row.public_key)),
        };
        let entry = record.to_entry().map_err(|e| {
            KeyChangeError::Ledger(LedgerError::AppendFailed(format!(
                "invalid key directory record: {e}"
            )))
        })?;
        let appended = self.append(entry, Some(account.as_str())).await?;
        let row = self
            .shared
            .store
            .append_identity_key(account, public_key, now)
            .await?;
        if row.version != version {
            tracing::error!(
                account = %account,
                logged = version,
                stored = row.version,
                "identity key history changed outside the ledger service"
            );
        }
        Ok((row, appended))
    }

    fn check_published(&self, size: u64) -> Result<(), LedgerError> {
        let published = self.shared.published().size;
        if size > published {
            return Err(TreeError::SizeBeyondTree {
                size,
                tree_size: published,
            }
            .into());
        }
        Ok(())
    }
}

impl Shared {
    fn published(&self) -> std::sync::RwLockReadGuard<'_, Published> {
        // A poisoned lock means a writer panicked mid-update of a plain
        // struct assignment; the value is still a whole checkpoint.
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tree(&self) -> Result<std::sync::RwLockReadGuard<'_, MerkleTree>, LedgerError> {
        // A panic while appending could leave the tree half-updated; refuse
        // to answer from it rather than hand out wrong proofs.
        self.tree.read().map_err(|_| LedgerError::WriterStopped)
    }
}

async fn run_writer(
    shared: Arc<Shared>,
    signer: NoteSigner,
    mut frontier: Frontier,
    mut jobs: mpsc::Receiver<AppendJob>,
) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        let mut count = batch[0].entries.len();
        while count < MAX_BATCH_ENTRIES {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.entries.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        match write_batch(&shared, &signer, &frontier, &batch).await {
            Ok((next, results)) => {
                frontier = next;
                for (job, result) in batch.into_iter().zip(results) {
                    // A caller that gave up still has its entry logged.
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger append failed");
                let stop = matches!(e, LedgerError::WriterStopped);
                let reason = e.to_string();
                for job in batch {
                    let e = if stop {
                        LedgerError::WriterStopped
                    } else {
                        LedgerError::AppendFailed(reason.clone())
                    };
                    let _ = job.reply.send(Err(e));
                }
                if stop {
                    return;
                }
            }
        }
    }
}

/// Writes one batch and publishes it. On `Err` other than `WriterStopped`
/// nothing was written and the writer may go on.
async fn write_batch(
    shared: &Shared,
    signer: &NoteSigner,
    frontier: &Frontier,
    batch: &[AppendJob],
) -> Result<(Frontier, Vec<Vec<Appended>>), LedgerError> {
    let first_index = frontier.size();
    let mut next = frontier.clone();
    let mut encoded = Vec::new();
    for job in batch {
        for (entry, subject) in &job.entries {
            let data = entry.encode();
            let hash = ledger::leaf_hash(&data);
            next.push(hash);
            encoded.push((entry.tag().as_str(), subject.as_deref(), data, hash));
        }
    }
    // The origin was checked when the service opened, so signing only fails
    // on a broken invariant; it is reported, not unwrapped.
    let note = Checkpoint::new(&shared.origin, next.size(), next.root())
        .and_then(|checkpoint| checkpoint.sign(signer))
        .map_err(|e| LedgerError::AppendFailed(format!("cannot sign the checkpoint: {e}")))?
        .encode();
    let rows: Vec<NewLedgerEntry> = encoded
        .iter()
        .zip(first_index..)
        .map(|((tag, subject, data, hash), index)| NewLedgerEntry {
            index,
            tag,
            subject: *subject,
            entry: data,
            leaf_hash: hash.as_bytes(),
        })
        .collect();
    let written = shared
        .store
        .append_ledger_batch(
            &rows,
            Some(NewLedgerCheckpoint {
                tree_size: next.size(),
                note: &note,
            }),
            crate::unix_now(),
        )
        .await;
    if let Err(e) = written {
        // If the commit's outcome is unknown the tree may lag storage; only
        // a restart (which rebuilds from storage) can tell, so stop.
        return match shared
            .store
            .ledger_entries(first_index, first_index + 1, 1)
            .await
        {
            Ok(page) if page.rows.is_empty() => Err(e.into()),
            _ => Err(LedgerError::WriterStopped),
        };
    }
    {
        let mut tree = shared
            .tree
            .write()
            .map_err(|_| LedgerError::WriterStopped)?;
        for (_, _, _, hash) in &encoded {
            tree.append_leaf_hash(*hash);
        }
    }
    let size = next.size();
    *shared
        .published
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Published {
        size,
        root: next.root(),
        note,
    };
    let mut appended = encoded
        .iter()
        .zip(first_index..)
        .map(|((_, _, _, hash), index)| Appended {
            index: LeafIndex(index),
            leaf_hash: *hash,
            checkpoint_size: size,
        });
    let results = batch
        .iter()
        .map(|job| appended.by_ref().take(job.entries.len()).collect())
        .collect();
    Ok((next, results))
}

/// Rebuilds the tree from every stored entry, recomputing each leaf hash.
async fn reload_tree(store: &Store) -> Result<MerkleTree, LedgerStartError> {
    let mut tree = MerkleTree::new();
    loop {
        let start = tree.size();
        let rows = store
            .ledger_entries(start, start + RELOAD_PAGE, usize::MAX)
            .await?
            .rows;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.index != tree.size() {
                return Err(LedgerStartError::Missing { index: tree.size() });
            }
            let hash = ledger::leaf_hash(&row.entry);
            if hash.as_bytes() != &row.leaf_hash {
                return Err(LedgerStartError::Altered { index: row.index });
            }
            tree.append_leaf_hash(hash);
        }
    }
    Ok(tree)
}

/// Checks the tree against the latest stored checkpoint and returns the
/// checkpoint to publish: the stored one if it is by the current key for the
/// current tree, else a new one, stored before it is returned.
async fn restore_checkpoint(
    store: &Store,
    tree: &MerkleTree,
    signer: &NoteSigner,
    origin: &str,
) -> Result<Published, LedgerStartError> {
    if let Some(row) = store.latest_ledger_checkpoint().await? {
        let note = SignedNote::parse(row.note.as_bytes())
            .map_err(|e| LedgerStartError::MalformedCheckpoint(e.to_string()))?;
        let checkpoint = Checkpoint::parse_body(note.text())
            .map_err(|e| LedgerStartError::MalformedCheckpoint(e.to_string()))?;
        if checkpoint.size() > tree.size() {
            return Err(LedgerStartError::Truncated {
                stored: tree.size(),
                checkpoint: checkpoint.size(),
            });
        }
        if tree.root_at(checkpoint.size()).ok() != Some(checkpoint.root()) {
            return Err(LedgerStartError::Rewritten {
                size: checkpoint.size(),
            });
        }
        let ours = Checkpoint::open(row.note.as_bytes(), origin, &[signer.verifier()]).is_ok();
        if ours && checkpoint.size() == tree.size() {
            return Ok(Published {
                size: checkpoint.size(),
                root: checkpoint.root(),
                note: row.note,
            });
        }
    }
    let root = tree.root();
    let note = Checkpoint::new(origin, tree.size(), root)
        .and_then(|checkpoint| checkpoint.sign(signer))
        .map_err(|e| LedgerStartError::MalformedCheckpoint(e.to_string()))?
        .encode();
    store
        .append_ledger_checkpoint(
            NewLedgerCheckpoint {
                tree_size: tree.size(),
                note: &note,
            },
            crate::unix_now(),
        )
        .await?;
    Ok(Published {
        size: tree.size(),
        root,
        note,
    })
}
