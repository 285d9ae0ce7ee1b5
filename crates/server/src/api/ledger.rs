//! The public transparency-log API: no authentication, everything readable
//! by anyone, everything verifiable with the `ledger` crate.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ledger::Hash;
use proto::ids::AccountId;
use proto::ledger::{
    ConsistencyProof, ConsistencyProofQuery, InclusionProof, InclusionProofQuery,
    KeyDirectoryProof, LedgerEntries, LedgerEntriesQuery, LedgerEntry, LedgerKey,
    MAX_LEDGER_PAGE_BYTES, MAX_LEDGER_PAGE_ENTRIES,
};
use proto::rest::ErrorBody;

use super::error::{ApiError, ApiJson, ApiPath};
use crate::ledger::LedgerError;
use crate::state::AppState;

/// `axum::extract::Query` with our error format for bad parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::invalid("invalid_query", rejection.body_text())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Range(e) => ApiError::invalid("out_of_range", e.to_string()),
            LedgerError::BadRange(message) => ApiError::invalid("invalid_range", message),
            other => ApiError::internal(other),
        }
    }
}

/// The latest signed checkpoint, as a C2SP signed note.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, content_type = "text/plain; charset=utf-8", body = String,
               description = "origin, tree size and root hash, then the log's signature")))]
pub async fn checkpoint(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.ledger.checkpoint().note,
    )
}

/// The log's origin and the signed-note key its checkpoints are signed with.
#[utoipa::path(get, path = "/api/v1/ledger/key", tag = "ledger",
    responses((status = 200, body = LedgerKey)))]
pub async fn key(State(state): State<AppState>) -> ApiJson<LedgerKey> {
    ApiJson(LedgerKey {
        origin: state.ledger.origin().to_owned(),
        verifier_key: state.ledger.verifier().to_string(),
    })
}

/// Entries by position, `start..end`, at most 1000 per page and about
/// 2 MiB of entry data; `next` says where the following page starts.
#[utoipa::path(get, path = "/api/v1/ledger/entries", tag = "ledger",
    params(LedgerEntriesQuery),
    responses((status = 200, body = LedgerEntries),
              (status = 400, body = ErrorBody, description = "range reversed, too long or beyond the log")))]
pub async fn entries(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LedgerEntriesQuery>,
) -> Result<ApiJson<LedgerEntries>, ApiError> {
    let (rows, next) = state
        .ledger
        .entries(
            query.start,
            query.end,
            MAX_LEDGER_PAGE_ENTRIES,
            MAX_LEDGER_PAGE_BYTES,
        )
        .await?;
    Ok(ApiJson(LedgerEntries {
        entries: rows
            .into_iter()
            .map(|row| LedgerEntry {
                index: row.index,
                data: BASE64.encode(row.entry),
            })
            .collect(),
        next,
    }))
}

/// Inclusion proof of the entry at `index` in the tree of `size` entries.
#[utoipa::path(get, path = "/api/v1/ledger/proofs/inclusion", tag = "ledger",
    params(InclusionProofQuery),
    responses((status = 200, body = InclusionProof),
              (status = 400, body = ErrorBody, description = "index or size beyond the log")))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InclusionProofQuery>,
) -> Result<ApiJson<InclusionProof>, ApiError> {
    let proof = state.ledger.inclusion_proof(query.index, query.size)?;
    Ok(ApiJson(InclusionProof {
        index: query.index,
        size: query.size,
        proof: encode_hashes(&proof),
    }))
}

/// Consistency proof that the tree of `old` entries is a prefix of the tree
/// of `new` entries.
#[utoipa::path(get, path = "/api/v1/ledger/proofs/consistency", tag = "ledger",
    params(ConsistencyProofQuery),
    responses((status = 200, body = ConsistencyProof),
              (status = 400, body = ErrorBody, description = "sizes reversed, zero or beyond the log")))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConsistencyProofQuery>,
) -> Result<ApiJson<ConsistencyProof>, ApiError> {
    let proof = state.ledger.consistency_proof(query.old, query.new)?;
    Ok(ApiJson(ConsistencyProof {
        old_size: query.old,
        new_size: query.new,
        proof: encode_hashes(&proof),
    }))
}

/// An account's current identity-key entry in the key directory, with the
/// latest checkpoint and the entry's inclusion proof in it.
#[utoipa::path(get, path = "/api/v1/ledger/key-directory/{id}", tag = "ledger",
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = KeyDirectoryProof),
              (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "the account has no logged identity key")))]
pub async fn key_directory(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<ApiJson<KeyDirectoryProof>, ApiError> {
    let proven = state
        .ledger
        .key_directory_entry(id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("identity key in the key directory"))?;
    Ok(ApiJson(KeyDirectoryProof {
        index: proven.index.0,
        entry: BASE64.encode(&proven.entry),
        checkpoint: proven.checkpoint.note,
        proof: encode_hashes(&proven.proof),
    }))
}

fn encode_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

/// 503 when the log cannot take an entry (used by handlers that append).
pub fn unavailable(e: LedgerError) -> ApiError {
    tracing::error!(error = %e, "ledger append failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ledger_unavailable",
        "the transparency log cannot record this change now; nothing was changed in the log",
    )
}
