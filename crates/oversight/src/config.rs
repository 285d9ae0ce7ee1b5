//! The genesis staff set and policy from the server's TOML configuration.
//!
//! ```toml
//! [[oversight.staff]]
//! id = "alice"
//! public_key = "base64 of the 32-byte Ed25519 public key"
//! jurisdiction = "DE"
//! roles = ["requester", "approver"]
//!
//! [oversight.policy.suspend_account]
//! approvals = 2
//! distinct_jurisdictions = 2
//! verified_evidence = true
//! expiry_secs = 604800
//! max_notice_delay_secs = 0           # optional, default 0
//! allow = { "*" = ["*"] }             # optional: region -> staff jurisdictions
//! bar = { HK = ["CN"] }               # optional: region -> barred jurisdictions
//!
//! [oversight]
//! default_region = "DE"               # optional: region of accounts that declared none
//! ```
//!
//! [`OversightConfig`] is the serde form, which the server's config struct can
//! embed as its `oversight` field; [`OversightConfig::genesis`] checks it and
//! names the offending key in every error (`oversight.staff[1].jurisdiction:
//! ...`). Every action needs its own policy table.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::jurisdiction::{Jurisdiction, JurisdictionError};
use crate::policy::{
    ActionKind, ActionPolicy, Eligibility, JurisdictionSet, Policy, PolicyError, RegionRule,
};
use crate::quorum::check_governable;
use crate::staff::{parse_public_key, Role, StaffError, StaffMember, StaffSet};

/// The `[oversight]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OversightConfig {
    /// `[[oversight.staff]]`.
    #[serde(default)]
    pub staff: Vec<StaffConfig>,
    /// `[oversight.policy.<action>]`.
    #[serde(default)]
    pub policy: BTreeMap<String, ActionPolicyConfig>,
    /// `default_region`: the country (ISO 3166-1 alpha-2) of accounts that declared
    /// none. Requests against such an account, or a meeting it hosts, must name it;
    /// without it they are refused, since no region is on record.
    #[serde(default)]
    pub default_region: Option<String>,
}

/// One `[[oversight.staff]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffConfig {
    /// Staff id.
    pub id: String,
    /// Standard base64 of the Ed25519 public key.
    pub public_key: String,
    /// ISO 3166-1 alpha-2 code.
    pub jurisdiction: String,
    /// `requester`, `approver`, `reviewer`.
    pub roles: Vec<String>,
}

/// One `[oversight.policy.<action>]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionPolicyConfig {
    /// Approvals needed.
    pub approvals: u8,
    /// Distinct jurisdictions among approvers.
    pub distinct_jurisdictions: u8,
    /// Whether verified evidence is required.
    #[serde(default)]
    pub verified_evidence: bool,
    /// Request expiry, seconds.
    pub expiry_secs: u64,
    /// Longest notice delay, seconds.
    #[serde(default)]
    pub max_notice_delay_secs: u64,
    /// Region (`"*"` or a country) to the staff jurisdictions (`"*"` or
    /// countries) that may act there.
    #[serde(default)]
    pub allow: BTreeMap<String, Vec<String>>,
    /// Region to the staff jurisdictions that may never act there.
    #[serde(default)]
    pub bar: BTreeMap<String, Vec<String>>,
}

/// The checked genesis: the staff set and the complete policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// The first staff.
    pub staff: StaffSet,
    /// The first policy.
    pub policy: Policy,
}

/// A configuration error naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    /// The key, e.g. `oversight.staff[1].jurisdiction`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Only the `[oversight]` table of a whole config file; the server's own
/// parser checks the other keys.
#[derive(Deserialize)]
struct File {
    #[serde(default)]
    oversight: OversightConfig,
}

impl Genesis {
    /// Reads the `[oversight]` table of a TOML document and checks it.
    pub fn from_toml(text: &str) -> Result<Genesis, ConfigError> {
        let file: File = toml::from_str(text).map_err(|error: toml::de::Error| {
            let line = error
                .span()
                .map(|span| {
                    format!(
                        "line {}",
                        text[..span.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_else(|| "oversight".to_owned());
            ConfigError::new(line, error.message().trim().replace('\n', " "))
        })?;
        file.oversight.genesis()
    }
}

impl OversightConfig {
    /// The checked `default_region`.
    pub fn default_region(&self) -> Result<Option<Jurisdiction>, ConfigError> {
        self.default_region
            .as_deref()
            .map(|code| {
                code.parse().map_err(|error: JurisdictionError| {
                    ConfigError::new("oversight.default_region", error.to_string())
                })
            })
            .transpose()
    }

    /// Checks every key and builds the genesis.
    pub fn genesis(&self) -> Result<Genesis, ConfigError> {
        self.default_region()?;
        let mut staff = StaffSet::new();
        if self.staff.is_empty() {
            return Err(ConfigError::new(
                "oversight.staff",
                "no staff members: at least the genesis staff must be listed",
            ));
        }
        for (index, entry) in self.staff.iter().enumerate() {
            let key = |field: &str| format!("oversight.staff[{index}].{field}");
            let id = entry
                .id
                .parse()
                .map_err(|error: StaffError| ConfigError::new(key("id"), error.to_string()))?;
            let public_key = parse_public_key(&entry.public_key)
                .map_err(|problem| ConfigError::new(key("public_key"), problem))?;
            let jurisdiction: Jurisdiction =
                entry
                    .jurisdiction
                    .parse()
                    .map_err(|error: JurisdictionError| {
                        ConfigError::new(key("jurisdiction"), error.to_string())
                    })?;
            let mut roles = BTreeSet::new();
            for role in &entry.roles {
                roles.insert(
                    role.parse::<Role>()
                        .map_err(|error| ConfigError::new(key("roles"), error.to_string()))?,
                );
            }
            if roles.is_empty() {
                return Err(ConfigError::new(
                    key("roles"),
                    "is empty; give at least one of requester, approver, reviewer",
                ));
            }
            staff
                .add(StaffMember {
                    id,
                    public_key,
                    jurisdiction,
                    roles,
                })
                .map_err(|error| ConfigError::new(key("id"), error.to_string()))?;
        }
        let mut actions = BTreeMap::new();
        for (name, table) in &self.policy {
            let key = format!("oversight.policy.{name}");
            let action: ActionKind = name
                .parse()
                .map_err(|error: PolicyError| ConfigError::new(&key, error.to_string()))?;
            let policy = table.to_policy(&key)?;
            policy.validate(action).map_err(|error| match error {
                PolicyError::Invalid { field, problem, .. } => {
                    ConfigError::new(format!("{key}.{field}"), problem)
                }
                other => ConfigError::new(&key, other.to_string()),
            })?;
            actions.insert(action, policy);
        }
        if let Some(missing) = ActionKind::ALL
            .into_iter()
            .find(|action| !actions.contains_key(action))
        {
            return Err(ConfigError::new(
                format!("oversight.policy.{missing}"),
                "is missing: every action needs its own policy table",
            ));
        }
        let policy = Policy::new(actions)
            .map_err(|error| ConfigError::new("oversight.policy", error.to_string()))?;
        check_governable(&staff, &policy)
            .map_err(|violation| ConfigError::new("oversight.staff", violation.to_string()))?;
        Ok(Genesis { staff, policy })
    }
}

impl ActionPolicyConfig {
    fn to_policy(&self, key: &str) -> Result<ActionPolicy, ConfigError> {
        Ok(ActionPolicy {
            approvals: self.approvals,
            distinct_jurisdictions: self.distinct_jurisdictions,
            verified_evidence: self.verified_evidence,
            expiry_secs: self.expiry_secs,
            max_notice_delay_secs: self.max_notice_delay_secs,
            eligibility: Eligibility {
                allow: region_table(&self.allow, &format!("{key}.allow"))?,
                bar: region_table(&self.bar, &format!("{key}.bar"))?,
            },
        })
    }
}

fn region_table(
    table: &BTreeMap<String, Vec<String>>,
    key: &str,
) -> Result<BTreeMap<RegionRule, JurisdictionSet>, ConfigError> {
    if table.len() > crate::policy::MAX_REGION_RULES {
        return Err(ConfigError::new(
            key,
            format!("has more than {} rules", crate::policy::MAX_REGION_RULES),
        ));
    }
    let mut out = BTreeMap::new();
    for (region, codes) in table {
        let entry_key = format!("{key}.{region}");
        let rule = if region == "*" {
            RegionRule::Any
        } else {
            RegionRule::Country(region.parse().map_err(|error: JurisdictionError| {
                ConfigError::new(&entry_key, error.to_string())
            })?)
        };
        let set = if codes.iter().any(|code| code == "*") {
            if codes.len() > 1 {
                return Err(ConfigError::new(
                    entry_key,
                    "\"*\" already means every jurisdiction; list nothing beside it",
                ));
            }
            JurisdictionSet::Any
        } else {
            let mut set = BTreeSet::new();
            for code in codes {
                let code: Jurisdiction = code.parse().map_err(|error: JurisdictionError| {
                    ConfigError::new(&entry_key, error.to_string())
                })?;
                if !set.insert(code) {
                    return Err(ConfigError::new(&entry_key, format!("lists {code} twice")));
                }
            }
            JurisdictionSet::Only(set)
        };
        out.insert(rule, set);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staff::format_public_key;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> String {
        format_public_key(&SigningKey::from_bytes(&[seed; 32]).verifying_key())
    }

    fn document(extra_staff: &str, extra_policy: &str) -> String {
        let mut text = String::from("data_dir = \"/ignored/by/oversight\"\n");
        for (seed, (id, code)) in [
            ("alice", "DE"),
            ("bob", "FR"),
            ("carol", "US"),
            ("dave", "DE"),
        ]
        .into_iter()
        .enumerate()
        {
            text += &format!(
                "[[oversight.staff]]\nid = \"{id}\"\npublic_key = \"{}\"\njurisdiction = \"{code}\"\nroles = [\"requester\", \"approver\", \"reviewer\"]\n",
                key(u8::try_from(seed).unwrap() + 1)
            );
        }
        text += extra_staff;
        for action in ActionKind::ALL {
            text += &format!(
                "[oversight.policy.{action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = 86400\n"
            );
            if action == ActionKind::SuspendAccount {
                text += "verified_evidence = true\nbar = { HK = [\"CN\"] }\nallow = { \"*\" = [\"*\"] }\n";
                text += extra_policy;
            }
        }
        text
    }

    #[test]
    fn a_full_genesis_parses() {
        let genesis = Genesis::from_toml(&document("", "")).unwrap();
        assert_eq!(genesis.staff.len(), 4);
        let suspend = genesis.policy.action(ActionKind::SuspendAccount);
        assert!(suspend.verified_evidence);
        assert_eq!(suspend.eligibility.bar.len(), 1);
    }

    #[test]
    fn errors_name_the_key() {
        let bad_code = document("[[oversight.staff]]\nid = \"erin\"\npublic_key = \"KEY\"\njurisdiction = \"UK\"\nroles = [\"approver\"]\n", "")
            .replace("KEY", &key(9));
        let error = Genesis::from_toml(&bad_code).unwrap_err();
        assert_eq!(error.key, "oversight.staff[4].jurisdiction");
        assert!(error.problem.contains("\"UK\""), "{error}");

        let bad_key = document("[[oversight.staff]]\nid = \"erin\"\npublic_key = \"AAAA\"\njurisdiction = \"GB\"\nroles = [\"approver\"]\n", "");
        assert_eq!(
            Genesis::from_toml(&bad_key).unwrap_err().key,
            "oversight.staff[4].public_key"
        );

        let bad_role = document("[[oversight.staff]]\nid = \"erin\"\npublic_key = \"KEY\"\njurisdiction = \"GB\"\nroles = [\"boss\"]\n", "")
            .replace("KEY", &key(9));
        assert_eq!(
            Genesis::from_toml(&bad_role).unwrap_err().key,
            "oversight.staff[4].roles"
        );

        let reused_key = document("[[oversight.staff]]\nid = \"erin\"\npublic_key = \"KEY\"\njurisdiction = \"GB\"\nroles = [\"approver\"]\n", "")
            .replace("KEY", &key(1));
        assert!(Genesis::from_toml(&reused_key)
            .unwrap_err()
            .problem
            .contains("same public key"));

        let bad_region = document("", "").replace("HK = [\"CN\"]", "HK = [\"ZZ\"]");
        assert_eq!(
            Genesis::from_toml(&bad_region).unwrap_err().key,
            "oversight.policy.suspend_account.bar.HK"
        );

        for (code, ok) in [("FR", true), ("UK", false)] {
            let text = format!(
                "[oversight]\ndefault_region = \"{code}\"\n{}",
                document("", "")
            );
            let text = text.replacen("data_dir = \"/ignored/by/oversight\"\n", "", 1);
            match Genesis::from_toml(&text) {
                Ok(_) => assert!(ok, "{code} accepted"),
                Err(error) => {
                    assert!(!ok, "{code}: {error}");
                    assert_eq!(error.key, "oversight.default_region");
                }
            }
        }

        let zero = document("", "").replacen("approvals = 2", "approvals = 0", 1);
        assert_eq!(
            Genesis::from_toml(&zero).unwrap_err().key,
            "oversight.policy.end_meeting.approvals"
        );

        let missing = document("", "").replace(
            "[oversight.policy.change_policy]",
            "[oversight.policy.unused]",
        );
        let error = Genesis::from_toml(&missing).unwrap_err();
        assert_eq!(error.key, "oversight.policy.unused");

        let unknown_field = document("", "typo_field = 1\n");
        let error = Genesis::from_toml(&unknown_field).unwrap_err();
        assert!(error.problem.contains("typo_field"), "{error}");
        assert!(error.key.starts_with("line "), "{error}");
    }

    #[test]
    fn a_genesis_that_could_never_change_its_staff_is_refused() {
        // Four members who all request and approve: a staff change needing
        // four approvals besides its requester can never pass.
        let text = document("", "").replace(
            "[oversight.policy.add_staff]\napprovals = 2",
            "[oversight.policy.add_staff]\napprovals = 4",
        );
        let error = Genesis::from_toml(&text).unwrap_err();
        assert_eq!(error.key, "oversight.staff");
        assert!(error.problem.contains("add_staff"), "{error}");
    }
}
