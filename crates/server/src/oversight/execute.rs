//! Acting on an [`ExecutionOrder`], after its entries are in the ledger.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ledger::LeafIndex;
use oversight::{Action, ExecutionOrder};
use proto::signaling::EndOrder;

use crate::api::error::ApiError;
use crate::meetings::RoomRequest;
use crate::state::AppState;

/// Carries out `order`. `execution` is the position of its
/// `oversight.execution` entry (absent for a sealed, delayed execution).
pub async fn execute(
    state: &AppState,
    order: ExecutionOrder,
    execution: Option<LeafIndex>,
) -> Result<(), ApiError> {
    match order.action() {
        Action::EndMeeting { meeting } => {
            let end = end_order(state, &order, execution).await?;
            if let Some(room) = state.meetings.live(meeting) {
                if room.send(RoomRequest::EndByOrder(end)).await.is_ok() {
                    return Ok(());
                }
            }
            // Not running (or it just stopped): record the end so that no
            // one can join again.
            state.store.end_meeting(meeting, crate::unix_now()).await?;
            Ok(())
        }
        // Staff and policy changes take effect inside the core itself.
        Action::AddStaff { .. } | Action::RemoveStaff { .. } | Action::ChangePolicy { .. } => {
            Ok(())
        }
        Action::SuspendAccount { account } => {
            state
                .store
                .set_suspended(account, Some(crate::unix_now()))
                .await?;
            Ok(())
        }
        Action::ReinstateAccount { account } => {
            state.store.set_suspended(account, None).await?;
            Ok(())
        }
        // The disclosure is read from storage when its requester fetches it
        // (`GET /api/v1/staff/requests/{id}/disclosure`); the account must
        // exist for there to be anything to hand over.
        Action::DiscloseAccountData { account, .. } => {
            if state.store.account(account).await?.is_none() {
                tracing::warn!("an executed disclosure names an account this server does not have");
            }
            Ok(())
        }
    }
}

/// The order as participants receive it: certificate, entry position,
/// inclusion proof and the checkpoint the proof leads to.
async fn end_order(
    state: &AppState,
    order: &ExecutionOrder,
    execution: Option<LeafIndex>,
) -> Result<EndOrder, ApiError> {
    let index = execution.ok_or_else(|| {
        ApiError::internal("an end-meeting order has no execution entry to prove")
    })?;
    let proven = state.ledger.proven_entry(index).await?;
    Ok(EndOrder {
        certificate: BASE64.encode(order.certificate().encode()),
        ledger_index: index.0,
        inclusion_proof: proven.proof.iter().map(ledger::Hash::to_base64).collect(),
        checkpoint: proven.checkpoint.note,
    })
}
