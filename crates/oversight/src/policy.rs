//! The policy: for each privileged action, how many approvals from how many
//! jurisdictions it needs, which staff jurisdictions may act on subjects of
//! which region, whether verified evidence is required, how long a request
//! stays open and how long a notice may be delayed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::codec::{DecodeError, Reader, Writer};
use crate::jurisdiction::{Jurisdiction, Region};

/// Most approvals a policy may ask for.
pub const MAX_APPROVALS: u8 = 16;

/// Shortest request expiry: one minute.
pub const MIN_EXPIRY_SECS: u64 = 60;

/// Longest request expiry: 90 days.
pub const MAX_EXPIRY_SECS: u64 = 90 * 24 * 3600;

/// Longest notice delay any policy may allow: 366 days.
pub const MAX_NOTICE_DELAY_SECS: u64 = 366 * 24 * 3600;

/// Most region rules in one `allow` or `bar` table.
pub const MAX_REGION_RULES: usize = 300;

/// The kinds of privileged action, which the policy is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// End a running meeting for everyone.
    EndMeeting,
    /// Suspend an account.
    SuspendAccount,
    /// Lift a suspension.
    ReinstateAccount,
    /// Hand stored account fields to an outside party.
    DiscloseAccountData,
    /// Add a staff member.
    AddStaff,
    /// Remove a staff member.
    RemoveStaff,
    /// Replace the policy of one action.
    ChangePolicy,
}

impl ActionKind {
    /// Every action, in encoding order.
    pub const ALL: [ActionKind; 7] = [
        ActionKind::EndMeeting,
        ActionKind::SuspendAccount,
        ActionKind::ReinstateAccount,
        ActionKind::DiscloseAccountData,
        ActionKind::AddStaff,
        ActionKind::RemoveStaff,
        ActionKind::ChangePolicy,
    ];

    /// The name used in configuration, the CLI and the API (`end_meeting`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::EndMeeting => "end_meeting",
            ActionKind::SuspendAccount => "suspend_account",
            ActionKind::ReinstateAccount => "reinstate_account",
            ActionKind::DiscloseAccountData => "disclose_account_data",
            ActionKind::AddStaff => "add_staff",
            ActionKind::RemoveStaff => "remove_staff",
            ActionKind::ChangePolicy => "change_policy",
        }
    }

    /// Whether the subject is an account or a meeting (as opposed to the
    /// staff set or the policy, which are service-wide).
    pub fn has_user_subject(self) -> bool {
        !matches!(
            self,
            ActionKind::AddStaff | ActionKind::RemoveStaff | ActionKind::ChangePolicy
        )
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            ActionKind::EndMeeting => 0,
            ActionKind::SuspendAccount => 1,
            ActionKind::ReinstateAccount => 2,
            ActionKind::DiscloseAccountData => 3,
            ActionKind::AddStaff => 4,
            ActionKind::RemoveStaff => 5,
            ActionKind::ChangePolicy => 6,
        }
    }

    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<ActionKind, DecodeError> {
        let value = reader.u8(field)?;
        ActionKind::ALL
            .into_iter()
            .find(|kind| kind.code() == value)
            .ok_or(DecodeError::UnknownValue { field, value })
    }
}

impl FromStr for ActionKind {
    type Err = PolicyError;

    fn from_str(name: &str) -> Result<ActionKind, PolicyError> {
        ActionKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| PolicyError::UnknownAction {
                name: name.chars().take(40).collect(),
            })
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The left side of a region rule: one country, or `"*"` for every region
/// without a rule of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionRule {
    /// `"*"`.
    Any,
    /// One country.
    Country(Jurisdiction),
}

/// The right side of a region rule: staff jurisdictions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JurisdictionSet {
    /// `["*"]`: every jurisdiction.
    Any,
    /// These jurisdictions (possibly none).
    Only(BTreeSet<Jurisdiction>),
}

impl JurisdictionSet {
    /// Whether `jurisdiction` is in the set.
    pub fn contains(&self, jurisdiction: Jurisdiction) -> bool {
        match self {
            JurisdictionSet::Any => true,
            JurisdictionSet::Only(set) => set.contains(&jurisdiction),
        }
    }
}

/// Which staff jurisdictions may act on subjects of which region.
///
/// A staff member from jurisdiction `J` may act on a subject in region `R`
/// when
/// - `allow` is empty, or its rule for `R` (else its `"*"` rule) contains `J`;
///   a region with neither rule is closed to everyone; and
/// - neither `bar`'s rule for `R` nor its `"*"` rule contains `J`.
///
/// [`Region::Global`] subjects (staff and policy changes) only match `"*"`
/// rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Eligibility {
    /// Who may act, per region.
    pub allow: BTreeMap<RegionRule, JurisdictionSet>,
    /// Who may never act, per region.
    pub bar: BTreeMap<RegionRule, JurisdictionSet>,
}

impl Eligibility {
    /// Whether staff from `staff` may act on a subject in `region`.
    pub fn permits(&self, staff: Jurisdiction, region: Region) -> bool {
        let specific = match region {
            Region::Country(country) => Some(RegionRule::Country(country)),
            Region::Global => None,
        };
        let allowed = self.allow.is_empty()
            || specific
                .and_then(|rule| self.allow.get(&rule))
                .or_else(|| self.allow.get(&RegionRule::Any))
                .is_some_and(|set| set.contains(staff));
        let barred = specific
            .and_then(|rule| self.bar.get(&rule))
            .into_iter()
            .chain(self.bar.get(&RegionRule::Any))
            .any(|set| set.contains(staff));
        allowed && !barred
    }

    fn encode(&self, writer: &mut Writer) {
        for table in [&self.allow, &self.bar] {
            writer.count(table.len());
            for (rule, set) in table {
                match rule {
                    RegionRule::Any => {
                        writer.u8(0);
                    }
                    RegionRule::Country(code) => {
                        writer.u8(1);
                        code.encode(writer);
                    }
                }
                match set {
                    JurisdictionSet::Any => {
                        writer.u8(0);
                    }
                    JurisdictionSet::Only(codes) => {
                        writer.u8(1).count(codes.len());
                        for code in codes {
                            code.encode(writer);
                        }
                    }
                }
            }
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Eligibility, DecodeError> {
        let allow = decode_table(reader, "eligibility allow")?;
        let bar = decode_table(reader, "eligibility bar")?;
        Ok(Eligibility { allow, bar })
    }
}

fn decode_table(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<BTreeMap<RegionRule, JurisdictionSet>, DecodeError> {
    let count = reader.count(field, MAX_REGION_RULES)?;
    let mut table = BTreeMap::new();
    let mut previous: Option<RegionRule> = None;
    for _ in 0..count {
        let rule = match reader.u8(field)? {
            0 => RegionRule::Any,
            1 => RegionRule::Country(Jurisdiction::decode(reader, field)?),
            value => return Err(DecodeError::UnknownValue { field, value }),
        };
        // Canonical form: rules strictly ascending, so each table has one
        // encoding.
        if previous.is_some_and(|previous| previous >= rule) {
            return Err(DecodeError::Invalid {
                field,
                reason: "region rules out of order or repeated".into(),
            });
        }
        previous = Some(rule);
        let set = match reader.u8(field)? {
            0 => JurisdictionSet::Any,
            1 => {
                let len = reader.count(field, crate::jurisdiction::JURISDICTION_COUNT)?;
                let mut codes = BTreeSet::new();
                for _ in 0..len {
                    let code = Jurisdiction::decode(reader, field)?;
                    if codes.last().is_some_and(|last| *last >= code) {
                        return Err(DecodeError::Invalid {
                            field,
                            reason: "jurisdictions out of order or repeated".into(),
                        });
                    }
                    codes.insert(code);
                }
                JurisdictionSet::Only(codes)
            }
            value => return Err(DecodeError::UnknownValue { field, value }),
        };
        table.insert(rule, set);
    }
    Ok(table)
}

/// The rules for one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionPolicy {
    /// Approvals needed, the requester never counted: 1 to [`MAX_APPROVALS`].
    pub approvals: u8,
    /// Distinct jurisdictions needed among the approvers: 1 to `approvals`.
    pub distinct_jurisdictions: u8,
    /// Whether the request must carry verified evidence about its subject.
    pub verified_evidence: bool,
    /// Seconds from filing until the request and its approvals expire.
    pub expiry_secs: u64,
    /// Longest delay of the subject's notice (0: notice at once). Only
    /// `disclose_account_data` may be delayed.
    pub max_notice_delay_secs: u64,
    /// Which staff jurisdictions may act on which regions.
    pub eligibility: Eligibility,
}

impl ActionPolicy {
    /// Checks the numbers against the limits and what the action can use.
    pub fn validate(&self, action: ActionKind) -> Result<(), PolicyError> {
        let bad = |field: &'static str, problem: String| {
            Err(PolicyError::Invalid {
                action,
                field,
                problem,
            })
        };
        if self.approvals == 0 || self.approvals > MAX_APPROVALS {
            return bad("approvals", format!("is {}, it must be 1 to {MAX_APPROVALS}: no action may be taken by one person alone", self.approvals));
        }
        if self.distinct_jurisdictions == 0 || self.distinct_jurisdictions > self.approvals {
            return bad(
                "distinct_jurisdictions",
                format!(
                    "is {}, it must be 1 to approvals ({})",
                    self.distinct_jurisdictions, self.approvals
                ),
            );
        }
        if !(MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS).contains(&self.expiry_secs) {
            return bad(
                "expiry_secs",
                format!(
                    "is {}, it must be {MIN_EXPIRY_SECS} to {MAX_EXPIRY_SECS}",
                    self.expiry_secs
                ),
            );
        }
        if self.max_notice_delay_secs > MAX_NOTICE_DELAY_SECS {
            return bad(
                "max_notice_delay_secs",
                format!(
                    "is {}, the most allowed is {MAX_NOTICE_DELAY_SECS}",
                    self.max_notice_delay_secs
                ),
            );
        }
        if self.max_notice_delay_secs > 0 && action != ActionKind::DiscloseAccountData {
            return bad(
                "max_notice_delay_secs",
                "must be 0: only disclose_account_data may delay its notice".into(),
            );
        }
        if self.verified_evidence && !action.has_user_subject() {
            return bad(
                "verified_evidence",
                "must be false: staff and policy changes have no user to hold evidence against"
                    .into(),
            );
        }
        Ok(())
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer
            .u8(self.approvals)
            .u8(self.distinct_jurisdictions)
            .bool(self.verified_evidence)
            .u64(self.expiry_secs)
            .u64(self.max_notice_delay_secs);
        self.eligibility.encode(writer);
    }

    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        action: ActionKind,
    ) -> Result<ActionPolicy, DecodeError> {
        let policy = ActionPolicy {
            approvals: reader.u8("approvals")?,
            distinct_jurisdictions: reader.u8("distinct_jurisdictions")?,
            verified_evidence: reader.bool("verified_evidence")?,
            expiry_secs: reader.u64("expiry_secs")?,
            max_notice_delay_secs: reader.u64("max_notice_delay_secs")?,
            eligibility: Eligibility::decode(reader)?,
        };
        policy
            .validate(action)
            .map_err(|error| DecodeError::Invalid {
                field: "policy",
                reason: error.to_string(),
            })?;
        Ok(policy)
    }
}

/// The policy of every action. Always complete: there is no default rule that
/// an action could fall back to unnoticed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    actions: BTreeMap<ActionKind, ActionPolicy>,
}

impl Policy {
    /// Builds a policy from one rule set per action, refusing a missing
    /// action or an invalid rule.
    pub fn new(actions: BTreeMap<ActionKind, ActionPolicy>) -> Result<Policy, PolicyError> {
        for action in ActionKind::ALL {
            actions
                .get(&action)
                .ok_or(PolicyError::Missing { action })?
                .validate(action)?;
        }
        Ok(Policy { actions })
    }

    /// The rules for `action`.
    pub fn action(&self, action: ActionKind) -> &ActionPolicy {
        // Invariant: `Policy::new` refuses a policy without every action, and
        // `replace` only overwrites.
        self.actions
            .get(&action)
            .expect("a policy has a rule for every action")
    }

    /// Replaces the rules of one action.
    pub fn replace(&mut self, action: ActionKind, policy: ActionPolicy) -> Result<(), PolicyError> {
        policy.validate(action)?;
        self.actions.insert(action, policy);
        Ok(())
    }

    /// Every action's rules, in [`ActionKind::ALL`] order.
    pub fn actions(&self) -> impl Iterator<Item = (ActionKind, &ActionPolicy)> {
        self.actions.iter().map(|(kind, policy)| (*kind, policy))
    }
}

/// Why a policy is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An action name that does not exist.
    #[error("unknown action {name:?}; actions are end_meeting, suspend_account, reinstate_account, disclose_account_data, add_staff, remove_staff, change_policy")]
    UnknownAction {
        /// The name given.
        name: String,
    },
    /// The policy has no rule for an action.
    #[error(
        "no policy for {action}: every action needs its own [oversight.policy.{action}] table"
    )]
    Missing {
        /// The action.
        action: ActionKind,
    },
    /// A field has a value outside its limits.
    #[error("policy {action}: {field} {problem}")]
    Invalid {
        /// The action.
        action: ActionKind,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn code(text: &str) -> Jurisdiction {
        text.parse().unwrap()
    }

    pub(crate) fn simple(approvals: u8, distinct: u8) -> ActionPolicy {
        ActionPolicy {
            approvals,
            distinct_jurisdictions: distinct,
            verified_evidence: false,
            expiry_secs: 3600,
            max_notice_delay_secs: 0,
            eligibility: Eligibility::default(),
        }
    }

    #[test]
    fn eligibility_rules() {
        let only = |codes: &[&str]| JurisdictionSet::Only(codes.iter().map(|c| code(c)).collect());
        let eligibility = Eligibility {
            allow: [
                (RegionRule::Any, JurisdictionSet::Any),
                (RegionRule::Country(code("DE")), only(&["DE", "FR", "NL"])),
            ]
            .into(),
            bar: [
                (RegionRule::Country(code("HK")), only(&["CN"])),
                (RegionRule::Any, only(&["KP"])),
            ]
            .into(),
        };
        let de = Region::Country(code("DE"));
        let hk = Region::Country(code("HK"));
        assert!(eligibility.permits(code("FR"), de));
        assert!(
            !eligibility.permits(code("US"), de),
            "DE's own rule replaces *"
        );
        assert!(eligibility.permits(code("US"), hk));
        assert!(!eligibility.permits(code("CN"), hk), "barred for HK");
        assert!(eligibility.permits(code("CN"), Region::Country(code("BR"))));
        assert!(!eligibility.permits(code("KP"), de), "barred everywhere");
        assert!(!eligibility.permits(code("KP"), Region::Global));
        assert!(eligibility.permits(code("US"), Region::Global));

        let closed = Eligibility {
            allow: [(RegionRule::Country(code("DE")), only(&["DE"]))].into(),
            bar: BTreeMap::new(),
        };
        assert!(
            !closed.permits(code("DE"), Region::Country(code("FR"))),
            "no rule for FR and no *"
        );
        assert!(!closed.permits(code("DE"), Region::Global));
        assert!(Eligibility::default().permits(code("DE"), Region::Global));
    }

    #[test]
    fn validation_names_the_field() {
        let error = simple(0, 0).validate(ActionKind::EndMeeting).unwrap_err();
        assert!(matches!(
            error,
            PolicyError::Invalid {
                field: "approvals",
                ..
            }
        ));
        let error = simple(2, 3).validate(ActionKind::EndMeeting).unwrap_err();
        assert!(matches!(
            error,
            PolicyError::Invalid {
                field: "distinct_jurisdictions",
                ..
            }
        ));
        let mut delayed = simple(2, 2);
        delayed.max_notice_delay_secs = 60;
        assert!(delayed.validate(ActionKind::DiscloseAccountData).is_ok());
        assert!(delayed.validate(ActionKind::SuspendAccount).is_err());
        let mut verified = simple(2, 2);
        verified.verified_evidence = true;
        assert!(verified.validate(ActionKind::SuspendAccount).is_ok());
        assert!(verified.validate(ActionKind::AddStaff).is_err());
        let mut quick = simple(1, 1);
        quick.expiry_secs = 1;
        assert!(quick.validate(ActionKind::EndMeeting).is_err());
    }

    #[test]
    fn a_policy_needs_every_action() {
        let mut actions: BTreeMap<_, _> = ActionKind::ALL
            .into_iter()
            .map(|kind| (kind, simple(2, 2)))
            .collect();
        assert!(Policy::new(actions.clone()).is_ok());
        actions.remove(&ActionKind::ChangePolicy);
        assert_eq!(
            Policy::new(actions),
            Err(PolicyError::Missing {
                action: ActionKind::ChangePolicy
            })
        );
    }

    #[test]
    fn policy_encoding_is_canonical() {
        let mut policy = simple(3, 2);
        policy
            .eligibility
            .allow
            .insert(RegionRule::Any, JurisdictionSet::Any);
        policy.eligibility.bar.insert(
            RegionRule::Country(code("HK")),
            JurisdictionSet::Only([code("CN"), code("RU")].into()),
        );
        let mut writer = Writer::new();
        policy.encode(&mut writer);
        let bytes = writer.finish();
        let mut reader = Reader::new(&bytes);
        assert_eq!(
            ActionPolicy::decode(&mut reader, ActionKind::EndMeeting),
            Ok(policy)
        );
        reader.finish("policy").unwrap();

        // Swapping the two jurisdictions of the bar set is a non-canonical
        // order and must not decode.
        let mut swapped = bytes.clone();
        let len = swapped.len();
        swapped.swap(len - 4, len - 2);
        swapped.swap(len - 3, len - 1);
        assert!(ActionPolicy::decode(&mut Reader::new(&swapped), ActionKind::EndMeeting).is_err());
    }
}
