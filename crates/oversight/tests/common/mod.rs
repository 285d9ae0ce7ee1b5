//! A staff of real Ed25519 keys, a genesis policy from TOML, and an
//! in-memory ledger that checks every entry it is given round-trips.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use ledger::{Entry, MerkleTree};
use oversight::{
    format_public_key, Action, ActionKind, Approval, EvidenceRecord, Genesis, Logged, Oversight,
    OversightEntry, Region, Request, RequestHash, SignedRequest, StaffId, Veto,
};
use rand::rngs::OsRng;
use rand::RngCore as _;

/// Time zero of every scenario (2023-11-14).
pub const T0: u64 = 1_700_000_000;
pub const DAY: u64 = 24 * 3600;

/// Staff: (id, jurisdiction, roles).
pub const STAFF: [(&str, &str, &str); 8] = [
    ("alice", "DE", r#"["requester", "approver"]"#),
    ("bob", "DE", r#"["requester", "approver"]"#),
    ("carol", "FR", r#"["requester", "approver"]"#),
    ("dave", "US", r#"["approver"]"#),
    ("erin", "CN", r#"["requester", "approver"]"#),
    ("frank", "GB", r#"["reviewer"]"#),
    ("gina", "NL", r#"["reviewer"]"#),
    ("hugo", "DE", r#"["reviewer"]"#),
];

pub struct World {
    pub oversight: Oversight,
    pub keys: BTreeMap<String, SigningKey>,
    pub ledger: Ledger,
}

impl World {
    pub fn new() -> World {
        let keys: BTreeMap<String, SigningKey> = STAFF
            .iter()
            .map(|(id, _, _)| (id.to_string(), SigningKey::generate(&mut OsRng)))
            .collect();
        let mut toml = String::from("# The server's other keys are not oversight's business.\nhttp = \"127.0.0.1:8080\"\n\n");
        for (id, country, roles) in STAFF {
            toml += &format!(
                "[[oversight.staff]]\nid = \"{id}\"\npublic_key = \"{}\"\njurisdiction = \"{country}\"\nroles = {roles}\n\n",
                format_public_key(&keys[id].verifying_key())
            );
        }
        for action in ActionKind::ALL {
            toml += &format!("[oversight.policy.{action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = {DAY}\n");
            match action {
                ActionKind::SuspendAccount => {
                    toml += "verified_evidence = true\nallow = { \"*\" = [\"*\"] }\nbar = { HK = [\"CN\"] }\n";
                }
                ActionKind::EndMeeting => toml += "bar = { HK = [\"CN\"] }\n",
                ActionKind::DiscloseAccountData => {
                    toml += &format!("max_notice_delay_secs = {}\n", 30 * DAY)
                }
                _ => {}
            }
            toml += "\n";
        }
        let genesis = Genesis::from_toml(&toml).expect("the fixture's genesis is valid");
        let (oversight, entries) = Oversight::genesis(genesis);
        let mut ledger = Ledger::default();
        ledger.append_all(&entries);
        World {
            oversight,
            keys,
            ledger,
        }
    }

    pub fn key(&self, staff: &str) -> &SigningKey {
        &self.keys[staff]
    }

    pub fn request(
        &self,
        requester: &str,
        action: Action,
        region: Region,
        evidence: Vec<EvidenceRecord>,
        now: u64,
    ) -> SignedRequest {
        let mut nonce = [0u8; 32];
        OsRng.fill_bytes(&mut nonce);
        let request = Request {
            action,
            region,
            reasons: "Repeated threats against participants (terms section 4.2)".into(),
            evidence,
            requester: requester.parse().unwrap(),
            filed_at: now,
            notice_delay_secs: 0,
            nonce,
        };
        SignedRequest::sign(request, self.key(requester))
    }

    /// Files a request whose region agrees with the server's records, and appends what
    /// it logged.
    pub fn file(
        &mut self,
        signed: SignedRequest,
        now: u64,
    ) -> Result<RequestHash, oversight::Violation> {
        let recorded = oversight::SubjectRecord::Region(signed.request().region);
        self.file_on_record(signed, recorded, now)
    }

    /// Files a request against a subject the server's records describe as `recorded`,
    /// and appends what it logged.
    pub fn file_on_record(
        &mut self,
        signed: SignedRequest,
        recorded: oversight::SubjectRecord,
        now: u64,
    ) -> Result<RequestHash, oversight::Violation> {
        let logged = self.oversight.file(signed, Vec::new(), recorded, now);
        self.ledger.take(logged)
    }

    pub fn approval(&self, staff: &str, request: RequestHash, at: u64) -> Approval {
        Approval::sign(request, id(staff), at, self.key(staff))
    }

    pub fn veto(&self, staff: &str, request: RequestHash, at: u64) -> Veto {
        Veto::sign(
            request,
            id(staff),
            at,
            "No court order is attached".into(),
            self.key(staff),
        )
    }
}

pub fn id(staff: &str) -> StaffId {
    staff.parse().unwrap()
}

pub fn account(n: u32) -> proto::ids::AccountId {
    format!("acct{n:0>18}").parse().unwrap()
}

pub fn meeting(n: u32) -> proto::ids::MeetingId {
    format!("meet{n:0>18}").parse().unwrap()
}

pub fn country(code: &str) -> Region {
    Region::Country(code.parse().unwrap())
}

/// The log as a real server would keep it: encoded entries and their tree.
/// Every entry is checked to decode back to itself, so every scenario also
/// exercises the entry encoding.
#[derive(Default)]
pub struct Ledger {
    pub entries: Vec<Entry>,
    pub tree: MerkleTree,
}

impl Ledger {
    pub fn append_all(&mut self, entries: &[OversightEntry]) -> Vec<u64> {
        entries
            .iter()
            .map(|entry| {
                let ledger_entry = entry.to_ledger();
                let bytes = ledger_entry.encode();
                let decoded = OversightEntry::from_ledger(&Entry::decode(&bytes).unwrap()).unwrap();
                assert_eq!(&decoded, entry, "entry {} round-trips", entry.tag());
                self.entries.push(ledger_entry);
                self.tree.append(&bytes).0
            })
            .collect()
    }

    /// Appends a step's entries and returns its outcome.
    pub fn take<T>(&mut self, logged: Logged<T>) -> Result<T, oversight::Violation> {
        self.append_all(&logged.entries);
        logged.outcome
    }

    pub fn decoded(&self) -> Vec<OversightEntry> {
        self.entries
            .iter()
            .map(|entry| OversightEntry::from_ledger(entry).unwrap())
            .collect()
    }

    pub fn tags(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|entry| entry.tag().as_str().to_owned())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
