//! The transparency log's rows: entries in log order and signed checkpoints.
//!
//! Only INSERT and SELECT appear here. There is no method that updates or
//! deletes a ledger row (a test greps this file to keep it so), and the
//! migrations add triggers that refuse UPDATE and DELETE in the database.
//! The tree itself is not stored: the log keeps every leaf hash in memory
//! and rebuilds the tree from these rows on start.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Store, StoreError};

/// An entry to append at a given position.
#[derive(Debug, Clone, Copy)]
pub struct NewLedgerEntry<'a> {
    /// Position in the log; must be the next one (the primary key refuses a
    /// position that is taken).
    pub index: u64,
    /// The entry's type tag, for lookups.
    pub tag: &'a str,
    /// What the entry is about, for lookups (never trusted by readers).
    pub subject: Option<&'a str>,
    /// The encoded entry (leaf data).
    pub entry: &'a [u8],
    /// Its RFC 6962 leaf hash.
    pub leaf_hash: &'a [u8; 32],
}

/// A signed checkpoint to store with a batch of entries.
#[derive(Debug, Clone, Copy)]
pub struct NewLedgerCheckpoint<'a> {
    /// The tree size it covers.
    pub tree_size: u64,
    /// The signed note text.
    pub note: &'a str,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntryRow {
    /// Position in the log.
    pub index: u64,
    /// The encoded entry.
    pub entry: Vec<u8>,
    /// The leaf hash stored beside it (as written; readers recompute it).
    pub leaf_hash: [u8; 32],
}

/// A page of stored entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    /// The rows found, in order.
    pub rows: Vec<LedgerEntryRow>,
    /// Where the next page starts: the requested end, or the first position
    /// left out because of the byte budget.
    pub next: u64,
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheckpointRow {
    /// The tree size it covers.
    pub tree_size: u64,
    /// The signed note text.
    pub note: String,
}

impl Store {
    /// Appends entries and, optionally, the checkpoint that covers them, in
    /// one transaction: when this returns `Ok`, all of them are durable, and
    /// on error none is.
    pub async fn append_ledger_batch(
        &self,
        entries: &[NewLedgerEntry<'_>],
        checkpoint: Option<NewLedgerCheckpoint<'_>>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for entry in entries {
            sqlx::query(
                "INSERT INTO ledger_entries (idx, tag, subject, entry, leaf_hash, appended_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(to_i64(entry.index)?)
            .bind(entry.tag)
            .bind(entry.subject)
            .bind(entry.entry)
            .bind(&entry.leaf_hash[..])
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| crate::unique_to_conflict(e, "ledger index"))?;
        }
        if let Some(checkpoint) = checkpoint {
            insert_checkpoint(&mut tx, checkpoint, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a checkpoint on its own (the log signs one on start when the
    /// stored one is not by its current key).
    pub async fn append_ledger_checkpoint(
        &self,
        checkpoint: NewLedgerCheckpoint<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_checkpoint(&mut tx, checkpoint, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The most recently stored checkpoint, if any.
    pub async fn latest_ledger_checkpoint(
        &self,
    ) -> Result<Option<LedgerCheckpointRow>, StoreError> {
        let row =
            sqlx::query("SELECT tree_size, note FROM ledger_checkpoints ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            Ok(LedgerCheckpointRow {
                tree_size: to_u64(row.try_get("tree_size")?, "ledger_checkpoints.tree_size")?,
                note: row.try_get("note")?,
            })
        })
        .transpose()
    }

    /// The stored entries with positions in `start..end`, in order, up to
    /// and including the one that brings the entry data to `max_bytes` (so
    /// at least one entry if any is in range, and at most one entry beyond
    /// the budget). Positions with no row are simply absent: callers check
    /// that the positions are contiguous.
    pub async fn ledger_entries(
        &self,
        start: u64,
        end: u64,
        max_bytes: usize,
    ) -> Result<LedgerPage, StoreError> {
        let (start_i, end_i) = (to_i64(start)?, to_i64(end)?);
        let budget = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        // One statement: the cut-off comes from running sums of the entry
        // lengths (which SQLite reads without loading the blobs), so only
        // the rows that are returned are read whole.
        let rows = sqlx::query(
            "SELECT idx, entry, leaf_hash FROM ledger_entries \
             WHERE idx >= $1 AND idx < $2 AND idx <= COALESCE(( \
                 SELECT MIN(idx) FROM ( \
                     SELECT idx, SUM(CAST(length(entry) AS BIGINT)) OVER (ORDER BY idx) AS upto \
                     FROM ledger_entries WHERE idx >= $1 AND idx < $2 \
                 ) AS sums WHERE upto >= $3 \
             ), $2) \
             ORDER BY idx",
        )
        .bind(start_i)
        .bind(end_i)
        .bind(budget)
        .fetch_all(&self.pool)
        .await?;
        let rows: Vec<LedgerEntryRow> = rows.iter().map(entry_row).collect::<Result<_, _>>()?;
        let total: usize = rows.iter().map(|row| row.entry.len()).sum();
        let next = match rows.last() {
            // The budget was reached, so the page may have been cut here.
            Some(last) if total >= max_bytes => last.index + 1,
            _ => end,
        };
        Ok(LedgerPage { rows, next })
    }

    /// Position of the newest entry with this tag about this subject.
    pub async fn latest_ledger_index_for(
        &self,
        tag: &str,
        subject: &str,
    ) -> Result<Option<u64>, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(idx) AS idx FROM ledger_entries WHERE subject = $1 AND tag = $2",
        )
        .bind(subject)
        .bind(tag)
        .fetch_one(&self.pool)
        .await?;
        row.try_get::<Option<i64>, _>("idx")?
            .map(|idx| to_u64(idx, "ledger_entries.idx"))
            .transpose()
    }
}

async fn insert_checkpoint(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    checkpoint: NewLedgerCheckpoint<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ledger_checkpoints (tree_size, note, signed_at) VALUES ($1, $2, $3)")
        .bind(to_i64(checkpoint.tree_size)?)
        .bind(checkpoint.note)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn entry_row(row: &AnyRow) -> Result<LedgerEntryRow, StoreError> {
    let leaf_hash: Vec<u8> = row.try_get("leaf_hash")?;
    Ok(LedgerEntryRow {
        index: to_u64(row.try_get("idx")?, "ledger_entries.idx")?,
        entry: row.try_get("entry")?,
        leaf_hash: leaf_hash
            .try_into()
            .map_err(|bytes: Vec<u8>| StoreError::Corrupt {
                column: "ledger_entries.leaf_hash",
                detail: format!("{} bytes, not 32", bytes.len()),
            })?,
    })
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt {
        column: "ledger index",
        detail: format!("{value} does not fit a BIGINT"),
    })
}

fn to_u64(value: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        column,
        detail: format!("negative value {value}"),
    })
}
