//! The private copies of sealed oversight requests, and the session lookup
//! that a suspended account keeps for its notices, on both backends
//! (PostgreSQL when `CONCLAVE_TEST_POSTGRES_URL` is set).
#![allow(clippy::unwrap_used)]

use proto::ids::{AccountId, OpaqueId};
use storage::{NewAccountRecord, Store, StoreError};

async fn check(store: &Store) {
    store.store_sealed_request("aa", b"first", 1).await.unwrap();
    store
        .store_sealed_request("bb", b"second", 2)
        .await
        .unwrap();
    assert!(matches!(
        store.store_sealed_request("aa", b"other", 3).await,
        Err(StoreError::Conflict(_))
    ));
    let mut rows = store.sealed_requests().await.unwrap();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("aa".to_owned(), b"first".to_vec()),
            ("bb".to_owned(), b"second".to_vec())
        ]
    );

    let id = AccountId::from_random(&[7; 16]);
    store
        .create_account(&NewAccountRecord {
            id: id.clone(),
            username: "suspect".into(),
            password_hash: "$argon2id$fake".into(),
            region: None,
            created_at: 100,
        })
        .await
        .unwrap();
    store
        .create_session(&[1; 32], &id, 100, 1000)
        .await
        .unwrap();
    store.set_suspended(&id, Some(200)).await.unwrap();
    assert_eq!(store.session_account(&[1; 32], 300).await.unwrap(), None);
    assert_eq!(
        store
            .session_account_for_notices(&[1; 32], 300)
            .await
            .unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        store
            .session_account_for_notices(&[1; 32], 1000)
            .await
            .unwrap(),
        None,
        "an expired session is expired for notices too"
    );
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check(&Store::open_sqlite_dir(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let Ok(url) = std::env::var("CONCLAVE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set CONCLAVE_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: set CONCLAVE_TEST_POSTGRES_URL to run the PostgreSQL case");
        return;
    };
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let schema = format!("conclave_test_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::open(&format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        .await
        .unwrap();
    check(&store).await;
    store.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}
