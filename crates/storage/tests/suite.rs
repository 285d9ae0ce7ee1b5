//! One storage suite, run against both backends.
//!
//! SQLite runs in a fresh temporary directory. PostgreSQL runs when
//! `CONCLAVE_TEST_POSTGRES_URL` is set (`.ci/run` sets it), each test in its own
//! schema that is dropped afterwards; without the variable the Postgres cases
//! fail loudly under CI (`CI` set) and are reported as skipped otherwise.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use proto::ids::{AccountId, MeetingId, OpaqueId};
use rand::RngCore;
use storage::{
    Backend, MeetingChange, MeetingRecord, NewAccountRecord, NewLedgerCheckpoint, NewLedgerEntry,
    Store, StoreError,
};

fn random_id<T: OpaqueId>(n: usize) -> T {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    T::from_random(&bytes)
}

async fn account(store: &Store, username: &str) -> AccountId {
    let id: AccountId = random_id(16);
    store
        .create_account(&NewAccountRecord {
            id: id.clone(),
            username: username.into(),
            password_hash: "$argon2id$fake".into(),
            region: None,
            created_at: 100,
        })
        .await
        .unwrap();
    id
}

fn meeting(host: &AccountId) -> MeetingRecord {
    MeetingRecord {
        id: random_id::<MeetingId>(16),
        host: host.clone(),
        lobby: true,
        guests_allowed: true,
        locked: false,
        passcode_hash: None,
        encrypted_info: Some(vec![0, 1, 2, 255]),
        created_at: 200,
        ended_at: None,
    }
}

async fn accounts_are_unique_by_username(store: Store) {
    let id = account(&store, "ada").await;
    let again = store
        .create_account(&NewAccountRecord {
            id: random_id(16),
            username: "ada".into(),
            password_hash: "x".into(),
            region: Some("FR".into()),
            created_at: 1,
        })
        .await;
    assert!(matches!(again, Err(StoreError::Conflict("username"))));
    let found = store.account_by_username("ada").await.unwrap().unwrap();
    assert_eq!(found.id, id);
    assert_eq!(found.created_at, 100);
    assert_eq!(found.region, None);
    let grace = random_id::<AccountId>(16);
    store
        .create_account(&NewAccountRecord {
            id: grace.clone(),
            username: "grace".into(),
            password_hash: "x".into(),
            region: Some("FR".into()),
            created_at: 1,
        })
        .await
        .unwrap();
    let found = store.account(&grace).await.unwrap().unwrap();
    assert_eq!(found.region.as_deref(), Some("FR"));
    assert!(!found.has_avatar);
    assert!(store.account_by_username("bob").await.unwrap().is_none());
}

async fn profile_and_avatar_round_trip(store: Store) {
    let id = account(&store, "ada").await;
    store.set_display_name(&id, Some("Ada L.")).await.unwrap();
    store.set_avatar(&id, Some(&[1, 2, 3])).await.unwrap();
    let found = store.account(&id).await.unwrap().unwrap();
    assert_eq!(found.display_name.as_deref(), Some("Ada L."));
    assert!(found.has_avatar);
    assert_eq!(store.avatar(&id).await.unwrap(), Some(vec![1, 2, 3]));
    store.set_avatar(&id, None).await.unwrap();
    store.set_display_name(&id, None).await.unwrap();
    let found = store.account(&id).await.unwrap().unwrap();
    assert!(!found.has_avatar && found.display_name.is_none());
}

async fn sessions_expire_and_can_be_deleted(store: Store) {
    let id = account(&store, "ada").await;
    let live = [7u8; 32];
    let old = [8u8; 32];
    store.create_session(&live, &id, 10, 1_000).await.unwrap();
    store.create_session(&old, &id, 10, 50).await.unwrap();
    assert_eq!(
        store.session_account(&live, 999).await.unwrap(),
        Some(id.clone())
    );
    assert_eq!(store.session_account(&live, 1_000).await.unwrap(), None);
    assert_eq!(store.session_account(&old, 60).await.unwrap(), None);
    assert_eq!(store.session_account(&[9u8; 32], 0).await.unwrap(), None);
    assert_eq!(store.delete_expired_sessions(60).await.unwrap(), 1);
    assert!(store.delete_session(&live).await.unwrap());
    assert!(!store.delete_session(&live).await.unwrap());
    assert_eq!(store.session_account(&live, 20).await.unwrap(), None);
}

async fn identity_keys_are_an_append_only_history(store: Store) {
    let ada = account(&store, "ada").await;
    let bob = account(&store, "bob").await;
    let first = store.append_identity_key(&ada, &[1; 32], 10).await.unwrap();
    let second = store.append_identity_key(&ada, &[2; 32], 20).await.unwrap();
    let bobs = store.append_identity_key(&bob, &[3; 32], 30).await.unwrap();
    assert_eq!((first.version, second.version, bobs.version), (1, 2, 1));
    let history = store.identity_keys(&ada).await.unwrap();
    assert_eq!(history, vec![first, second]);
    assert_eq!(store.identity_keys(&bob).await.unwrap(), vec![bobs]);
}

async fn concurrent_key_changes_get_distinct_versions(store: Store) {
    let ada = account(&store, "ada").await;
    let (a, b) = tokio::join!(
        store.append_identity_key(&ada, &[1; 32], 10),
        store.append_identity_key(&ada, &[2; 32], 10)
    );
    let mut versions = vec![a.unwrap().version, b.unwrap().version];
    versions.sort();
    assert_eq!(versions, vec![1, 2]);
}

async fn meetings_round_trip_update_and_end(store: Store) {
    let host = account(&store, "ada").await;
    let record = meeting(&host);
    store.create_meeting(&record).await.unwrap();
    assert!(matches!(
        store.create_meeting(&record).await,
        Err(StoreError::Conflict("meeting"))
    ));
    assert_eq!(
        store.meeting(&record.id).await.unwrap(),
        Some(record.clone())
    );

    let change = MeetingChange {
        locked: Some(true),
        passcode_hash: Some(Some("$argon2id$pc".into())),
        ..MeetingChange::default()
    };
    assert!(store.update_meeting(&record.id, &change).await.unwrap());
    let updated = store.meeting(&record.id).await.unwrap().unwrap();
    assert!(updated.locked && updated.lobby && updated.guests_allowed);
    assert_eq!(updated.passcode_hash.as_deref(), Some("$argon2id$pc"));
    assert_eq!(updated.encrypted_info, record.encrypted_info);

    let clear = MeetingChange {
        lobby: Some(false),
        passcode_hash: Some(None),
        encrypted_info: Some(vec![9; 4096]),
        ..MeetingChange::default()
    };
    store.update_meeting(&record.id, &clear).await.unwrap();
    let updated = store.meeting(&record.id).await.unwrap().unwrap();
    assert!(!updated.lobby && updated.locked && updated.passcode_hash.is_none());
    assert_eq!(updated.encrypted_info, Some(vec![9; 4096]));

    assert!(store.end_meeting(&record.id, 300).await.unwrap());
    assert!(!store.end_meeting(&record.id, 400).await.unwrap());
    assert_eq!(
        store.meeting(&record.id).await.unwrap().unwrap().ended_at,
        Some(300)
    );

    let other = meeting(&host);
    store
        .create_meeting(&MeetingRecord {
            created_at: 500,
            ..other.clone()
        })
        .await
        .unwrap();
    let hosted = store.meetings_hosted_by(&host, 10).await.unwrap();
    assert_eq!(
        hosted.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        vec![other.id, record.id]
    );
    let missing = random_id::<MeetingId>(16);
    assert_eq!(store.meeting(&missing).await.unwrap(), None);
    assert!(!store
        .update_meeting(&missing, &MeetingChange::default())
        .await
        .unwrap());
}

fn ledger_entry(index: u64, data: &[u8], hash: &[u8; 32]) -> (u64, Vec<u8>, [u8; 32]) {
    (index, data.to_vec(), *hash)
}

async fn append_batch(store: &Store, rows: &[(u64, Vec<u8>, [u8; 32])], size: u64) {
    let entries: Vec<NewLedgerEntry> = rows
        .iter()
        .map(|(index, data, hash)| NewLedgerEntry {
            index: *index,
            tag: "test.entry",
            subject: Some("subject-a"),
            entry: data,
            leaf_hash: hash,
        })
        .collect();
    let note = format!("checkpoint at {size}\n");
    store
        .append_ledger_batch(
            &entries,
            Some(NewLedgerCheckpoint {
                tree_size: size,
                note: &note,
            }),
            1_000,
        )
        .await
        .unwrap();
}

async fn ledger_appends_read_back_in_order(store: Store) {
    assert_eq!(store.latest_ledger_checkpoint().await.unwrap(), None);
    assert_eq!(
        store
            .latest_ledger_index_for("test.entry", "subject-a")
            .await
            .unwrap(),
        None
    );
    let rows: Vec<_> = (0..5u8)
        .map(|i| ledger_entry(u64::from(i), &[i; 10], &[i; 32]))
        .collect();
    append_batch(&store, &rows[..3], 3).await;
    append_batch(&store, &rows[3..], 5).await;
    let page = store.ledger_entries(0, 100, 1 << 20).await.unwrap();
    assert_eq!(page.next, 100);
    let read = page.rows;
    assert_eq!(read.len(), 5);
    for (row, (index, data, hash)) in read.iter().zip(&rows) {
        assert_eq!(
            (row.index, &row.entry, &row.leaf_hash),
            (*index, data, hash)
        );
    }
    // A byte budget ends the page with the entry that reaches it, so never
    // below one entry.
    for budget in [1, 10] {
        let page = store.ledger_entries(1, 5, budget).await.unwrap();
        let indexes: Vec<u64> = page.rows.iter().map(|r| r.index).collect();
        assert_eq!((indexes, page.next), (vec![1], 2), "budget {budget}");
    }
    let page = store.ledger_entries(1, 5, 15).await.unwrap();
    assert_eq!(
        page.rows.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(page.next, 3);
    let page = store.ledger_entries(5, 9, 100).await.unwrap();
    assert!(page.rows.is_empty());
    assert_eq!(page.next, 9);
    let latest = store.latest_ledger_checkpoint().await.unwrap().unwrap();
    assert_eq!(
        (latest.tree_size, latest.note.as_str()),
        (5, "checkpoint at 5\n")
    );
    assert_eq!(
        store
            .latest_ledger_index_for("test.entry", "subject-a")
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        store
            .latest_ledger_index_for("other.tag", "subject-a")
            .await
            .unwrap(),
        None
    );
}

async fn ledger_positions_cannot_be_reused(store: Store) {
    let first = [ledger_entry(0, b"a", &[1; 32])];
    append_batch(&store, &first, 1).await;
    // A second writer at the same position fails, and its whole batch with
    // it: the checkpoint of the failed batch is not stored either.
    let clash = [
        ledger_entry(1, b"b", &[2; 32]),
        ledger_entry(0, b"c", &[3; 32]),
    ];
    let entries: Vec<NewLedgerEntry> = clash
        .iter()
        .map(|(index, data, hash)| NewLedgerEntry {
            index: *index,
            tag: "test.entry",
            subject: None,
            entry: data,
            leaf_hash: hash,
        })
        .collect();
    let result = store
        .append_ledger_batch(
            &entries,
            Some(NewLedgerCheckpoint {
                tree_size: 2,
                note: "bad",
            }),
            1,
        )
        .await;
    assert!(matches!(result, Err(StoreError::Conflict("ledger index"))));
    let read = store.ledger_entries(0, 10, 1 << 20).await.unwrap().rows;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].entry, b"a");
    let latest = store.latest_ledger_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.tree_size, 1);
}

async fn closed_store_refuses_work(store: Store) {
    account(&store, "ada").await;
    store.close().await;
    assert!(
        store.ping().await.is_err(),
        "a closed store must refuse work"
    );
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = storage::Store::open_sqlite_dir(dir.path()).await.unwrap();
                    assert_eq!(store.backend(), storage::Backend::Sqlite);
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = super::PgSchema::create().await else { return };
                    super::$case(db.store.clone()).await;
                    db.drop().await;
                }
            )*
        }
    };
}

suite!(
    accounts_are_unique_by_username,
    profile_and_avatar_round_trip,
    sessions_expire_and_can_be_deleted,
    identity_keys_are_an_append_only_history,
    concurrent_key_changes_get_distinct_versions,
    meetings_round_trip_update_and_end,
    closed_store_refuses_work,
    ledger_appends_read_back_in_order,
    ledger_positions_cannot_be_reused,
);

/// A throwaway schema in the PostgreSQL test database.
struct PgSchema {
    admin: sqlx::PgPool,
    schema: String,
    store: Store,
}

impl PgSchema {
    async fn create() -> Option<PgSchema> {
        let Ok(url) = std::env::var("CONCLAVE_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set CONCLAVE_TEST_POSTGRES_URL so the PostgreSQL suite runs"
            );
            eprintln!("skipped: set CONCLAVE_TEST_POSTGRES_URL to run the PostgreSQL suite");
            return None;
        };
        let admin = sqlx::PgPool::connect(&url)
            .await
            .expect("connect to PostgreSQL");
        let schema = format!("conclave_test_{:016x}", rand::random::<u64>());
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
        let store = Store::open(&scoped).await.expect("open PostgreSQL store");
        assert_eq!(store.backend(), Backend::Postgres);
        Some(PgSchema {
            admin,
            schema,
            store,
        })
    }

    async fn drop(self) {
        self.store.close().await;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn sqlite_uses_wal_and_keeps_committed_rows_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
    let id = account(&store, "ada").await;
    store.close().await;
    let reopened = Store::open_sqlite_dir(dir.path()).await.unwrap();
    assert!(reopened.account(&id).await.unwrap().is_some());
    let mode: String = {
        use sqlx::Row;
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join(storage::SQLITE_FILE).display()
        ))
        .await
        .unwrap();
        sqlx::query("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0)
    };
    assert_eq!(mode.to_lowercase(), "wal");
}

#[tokio::test]
async fn unsupported_urls_are_named() {
    let err = Store::open("mysql://localhost/db").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported database URL scheme \"mysql\": use sqlite:// or postgres://"
    );
}

/// Straight SQL, as a careless migration or an operator's shell would run
/// it: the database itself refuses to change or remove ledger rows.
const FORBIDDEN: [&str; 4] = [
    "UPDATE {t}ledger_entries SET entry = entry",
    "DELETE FROM {t}ledger_entries",
    "UPDATE {t}ledger_checkpoints SET note = 'forged'",
    "DELETE FROM {t}ledger_checkpoints",
];

async fn assert_ledger_intact(store: &Store) {
    assert_eq!(
        store
            .ledger_entries(0, 10, 1 << 20)
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
    assert!(store.latest_ledger_checkpoint().await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_triggers_refuse_ledger_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
    append_batch(&store, &[ledger_entry(0, b"a", &[1; 32])], 1).await;
    let raw = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join(storage::SQLITE_FILE).display()
    ))
    .await
    .unwrap();
    for statement in FORBIDDEN {
        let statement = statement.replace("{t}", "");
        let err = sqlx::query(&statement)
            .execute(&raw)
            .await
            .expect_err(&statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_ledger_intact(&store).await;
}

#[tokio::test]
async fn postgres_triggers_refuse_ledger_update_delete_and_truncate() {
    let Some(db) = PgSchema::create().await else {
        return;
    };
    append_batch(&db.store, &[ledger_entry(0, b"a", &[1; 32])], 1).await;
    let prefix = format!("{}.", db.schema);
    let truncate = [
        "TRUNCATE {t}ledger_entries",
        "TRUNCATE {t}ledger_checkpoints",
    ];
    for statement in FORBIDDEN.iter().chain(&truncate) {
        let statement = statement.replace("{t}", &prefix);
        let err = sqlx::query(&statement)
            .execute(&db.admin)
            .await
            .expect_err(&statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_ledger_intact(&db.store).await;
    db.drop().await;
}

#[tokio::test]
async fn ledger_rows_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
    append_batch(&store, &[ledger_entry(0, b"a", &[1; 32])], 1).await;
    store.close().await;
    let reopened = Store::open_sqlite_dir(dir.path()).await.unwrap();
    assert_ledger_intact(&reopened).await;
}

/// No SQL in the storage crate may change or remove a ledger row: the only
/// statements on ledger tables are INSERT and SELECT.
#[test]
fn storage_sql_never_updates_or_deletes_ledger_rows() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for dir in ["src", "migrations/sqlite", "migrations/postgres"] {
        for file in std::fs::read_dir(root.join(dir)).unwrap() {
            sources.push(file.unwrap().path());
        }
    }
    assert!(sources.len() >= 5, "found {sources:?}");
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
        // Join lines so that a statement split across string literals or
        // lines is still seen whole.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for forbidden in [
            "update ledger_",
            "delete from ledger_",
            "truncate ledger_",
            "replace into ledger_",
            "drop table ledger_",
            "drop trigger",
            "do update",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} contains {forbidden:?}",
                path.display()
            );
        }
    }
}
