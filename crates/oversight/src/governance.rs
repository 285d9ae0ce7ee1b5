//! The staff set and policy as the ledger records them, rebuilt entry by
//! entry, so that a client or monitor can verify a quorum certificate at
//! any ledger position without trusting the server.

use std::collections::BTreeMap;

use crate::entry::{OversightEntry, StaffChange};
use crate::policy::{ActionKind, ActionPolicy, Policy, PolicyError};
use crate::staff::{StaffError, StaffSet};

/// Staff and policy after the entries applied so far.
#[derive(Clone, Debug, Default)]
pub struct Governance {
    staff: StaffSet,
    policy: BTreeMap<ActionKind, ActionPolicy>,
}

impl Governance {
    /// Nothing applied yet.
    pub fn new() -> Governance {
        Governance::default()
    }

    /// Applies one entry; entries other than staff and policy changes leave
    /// the state as it is.
    ///
    /// To verify the certificate in the execution entry at index `n`, apply
    /// the entries before `n`: a staff or policy change that a certificate
    /// executes follows it in the log.
    pub fn apply(&mut self, entry: &OversightEntry) -> Result<(), ReplayError> {
        match entry {
            OversightEntry::Staff {
                change: StaffChange::Added(member),
                ..
            } => self.staff.add(member.clone())?,
            OversightEntry::Staff {
                change: StaffChange::Removed(id),
                ..
            } => {
                self.staff.remove(id)?;
            }
            OversightEntry::Policy { action, policy, .. } => {
                policy.validate(*action)?;
                self.policy.insert(*action, policy.clone());
            }
            _ => {}
        }
        Ok(())
    }

    /// The staff so far.
    pub fn staff(&self) -> &StaffSet {
        &self.staff
    }

    /// The policy so far; an error until every action has one (after the
    /// genesis entries).
    pub fn policy(&self) -> Result<Policy, ReplayError> {
        Ok(Policy::new(self.policy.clone())?)
    }
}

/// Why a sequence of entries does not replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A staff change does not apply (duplicate or unknown member).
    #[error("staff change does not apply: {0}")]
    Staff(#[from] StaffError),
    /// A policy entry is invalid, or the policy is not complete yet.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
}
