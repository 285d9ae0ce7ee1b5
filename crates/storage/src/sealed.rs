//! The private copies of oversight requests filed under a notice delay
//! (issue #5): the public log holds only their hash until the deadline.
//! Written once and never changed; there is no update or delete method.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Keeps the canonical bytes of a sealed request under its id (64 hex
    /// digits). Storing the same id twice is a conflict.
    pub async fn store_sealed_request(
        &self,
        request: &str,
        signed_request: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oversight_sealed_requests (request, signed_request, stored_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(request)
        .bind(signed_request)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| crate::unique_to_conflict(e, "sealed request"))?;
        Ok(())
    }

    /// Every stored sealed request: (id, canonical bytes).
    pub async fn sealed_requests(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT request, signed_request FROM oversight_sealed_requests")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| Ok((row.try_get("request")?, row.try_get("signed_request")?)))
            .collect()
    }
}
