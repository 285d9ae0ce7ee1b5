//! Privileged requests and the signatures staff put on them.
//!
//! A [`Request`] has one canonical encoding and a [`RequestHash`] over it.
//! The requester signs the hash ([`SignedRequest`]); approvers and vetoers
//! sign the hash too ([`Approval`], [`Veto`]). Every signed message starts
//! with its own label, so a signature made for one purpose can never be
//! replayed as another:
//!
//! ```text
//! request hash  = SHA-256("conclave oversight request hash v1\0" || request encoding)
//! request sig   = Ed25519("conclave oversight request v1\0"  || request hash)
//! approval sig  = Ed25519("conclave oversight approval v1\0" || request hash || text(staff id) || u64 signed_at)
//! veto sig      = Ed25519("conclave oversight veto v1\0"     || request hash || text(staff id) || u64 signed_at || text(reason))
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey};
use ledger::Hash;
use proto::ids::{AccountId, MeetingId};
use sha2::{Digest as _, Sha256};

use crate::codec::{DecodeError, Reader, Writer};
use crate::evidence::{decode_account, decode_meeting, EvidenceRecord, MAX_EVIDENCE};
use crate::jurisdiction::Region;
use crate::policy::{ActionKind, ActionPolicy};
use crate::staff::{decode_signature, StaffId, StaffMember};

/// Longest statement of reasons, in bytes.
pub const MAX_REASONS_LEN: usize = 4000;

/// Longest veto reason, in bytes.
pub const MAX_VETO_REASON_LEN: usize = 1000;

/// Longest disclosure recipient description, in bytes.
pub const MAX_RECIPIENT_LEN: usize = 200;

/// Largest encoded request accepted, in bytes.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

const REQUEST_VERSION: u8 = 1;
const REQUEST_HASH_LABEL: &[u8] = b"conclave oversight request hash v1\0";
const REQUEST_SIGNATURE_LABEL: &[u8] = b"conclave oversight request v1\0";
const APPROVAL_LABEL: &[u8] = b"conclave oversight approval v1\0";
const VETO_LABEL: &[u8] = b"conclave oversight veto v1\0";

/// A stored account field that `disclose_account_data` may hand over. There
/// are no IP addresses or connection records to disclose: none are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountField {
    /// The login name.
    Username,
    /// The display name.
    DisplayName,
    /// The avatar image.
    Avatar,
    /// When the account was made.
    CreatedAt,
}

impl AccountField {
    /// Every field, in encoding order.
    pub const ALL: [AccountField; 4] = [
        AccountField::Username,
        AccountField::DisplayName,
        AccountField::Avatar,
        AccountField::CreatedAt,
    ];

    /// The field's name in the API and CLI.
    pub fn name(self) -> &'static str {
        match self {
            AccountField::Username => "username",
            AccountField::DisplayName => "display_name",
            AccountField::Avatar => "avatar",
            AccountField::CreatedAt => "created_at",
        }
    }

    fn bit(self) -> u8 {
        match self {
            AccountField::Username => 1,
            AccountField::DisplayName => 2,
            AccountField::Avatar => 4,
            AccountField::CreatedAt => 8,
        }
    }
}

impl FromStr for AccountField {
    type Err = RequestError;

    fn from_str(name: &str) -> Result<AccountField, RequestError> {
        AccountField::ALL
            .into_iter()
            .find(|field| field.name() == name)
            .ok_or_else(|| RequestError::UnknownField {
                name: name.chars().take(40).collect(),
            })
    }
}

/// What a request asks to be done, with its subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// End a running meeting.
    EndMeeting {
        /// The meeting.
        meeting: MeetingId,
    },
    /// Suspend an account.
    SuspendAccount {
        /// The account.
        account: AccountId,
    },
    /// Lift an account's suspension.
    ReinstateAccount {
        /// The account.
        account: AccountId,
    },
    /// Hand stored account fields to an outside party.
    DiscloseAccountData {
        /// The account.
        account: AccountId,
        /// Which fields; at least one.
        fields: BTreeSet<AccountField>,
        /// Who receives them (an authority and its case reference).
        recipient: String,
    },
    /// Add a staff member.
    AddStaff {
        /// The new member.
        member: StaffMember,
    },
    /// Remove a staff member.
    RemoveStaff {
        /// Their id.
        staff: StaffId,
    },
    /// Replace the policy of one action.
    ChangePolicy {
        /// The action whose policy changes.
        action: ActionKind,
        /// Its new rules.
        policy: ActionPolicy,
    },
}

impl Action {
    /// The kind, which selects the policy.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::EndMeeting { .. } => ActionKind::EndMeeting,
            Action::SuspendAccount { .. } => ActionKind::SuspendAccount,
            Action::ReinstateAccount { .. } => ActionKind::ReinstateAccount,
            Action::DiscloseAccountData { .. } => ActionKind::DiscloseAccountData,
            Action::AddStaff { .. } => ActionKind::AddStaff,
            Action::RemoveStaff { .. } => ActionKind::RemoveStaff,
            Action::ChangePolicy { .. } => ActionKind::ChangePolicy,
        }
    }

    /// The account the action is against, if any.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Action::SuspendAccount { account }
            | Action::ReinstateAccount { account }
            | Action::DiscloseAccountData { account, .. } => Some(account),
            _ => None,
        }
    }

    /// The meeting the action is against, if any.
    pub fn meeting(&self) -> Option<&MeetingId> {
        match self {
            Action::EndMeeting { meeting } => Some(meeting),
            _ => None,
        }
    }

    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.kind().code());
        match self {
            Action::EndMeeting { meeting } => {
                writer.text(meeting.as_str());
            }
            Action::SuspendAccount { account } | Action::ReinstateAccount { account } => {
                writer.text(account.as_str());
            }
            Action::DiscloseAccountData {
                account,
                fields,
                recipient,
            } => {
                writer
                    .text(account.as_str())
                    .u8(fields.iter().fold(0, |bits, field| bits | field.bit()))
                    .text(recipient);
            }
            Action::AddStaff { member } => member.encode(writer),
            Action::RemoveStaff { staff } => staff.encode(writer),
            Action::ChangePolicy { action, policy } => {
                writer.u8(action.code());
                policy.encode(writer);
            }
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Action, DecodeError> {
        Ok(match ActionKind::decode(reader, "action")? {
            ActionKind::EndMeeting => Action::EndMeeting {
                meeting: decode_meeting(reader, "meeting")?,
            },
            ActionKind::SuspendAccount => Action::SuspendAccount {
                account: decode_account(reader, "account")?,
            },
            ActionKind::ReinstateAccount => Action::ReinstateAccount {
                account: decode_account(reader, "account")?,
            },
            ActionKind::DiscloseAccountData => {
                let account = decode_account(reader, "account")?;
                let bits = reader.u8("disclosed fields")?;
                let fields: BTreeSet<AccountField> = AccountField::ALL
                    .into_iter()
                    .filter(|field| bits & field.bit() != 0)
                    .collect();
                if fields.is_empty()
                    || fields.iter().fold(0, |all, field| all | field.bit()) != bits
                {
                    return Err(DecodeError::UnknownValue {
                        field: "disclosed fields",
                        value: bits,
                    });
                }
                let recipient = reader.text("recipient", MAX_RECIPIENT_LEN)?;
                Action::DiscloseAccountData {
                    account,
                    fields,
                    recipient,
                }
            }
            ActionKind::AddStaff => Action::AddStaff {
                member: StaffMember::decode(reader)?,
            },
            ActionKind::RemoveStaff => Action::RemoveStaff {
                staff: StaffId::decode(reader, "staff id")?,
            },
            ActionKind::ChangePolicy => {
                let action = ActionKind::decode(reader, "policy action")?;
                Action::ChangePolicy {
                    action,
                    policy: ActionPolicy::decode(reader, action)?,
                }
            }
        })
    }
}

/// A privileged request as the requester files it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// What is to be done to whom.
    pub action: Action,
    /// Where the subject is: a country for accounts and meetings,
    /// [`Region::Global`] for staff and policy changes.
    pub region: Region,
    /// The statement of reasons the subject will receive: 1 to
    /// [`MAX_REASONS_LEN`] bytes.
    pub reasons: String,
    /// The evidence, at most [`MAX_EVIDENCE`] items.
    pub evidence: Vec<EvidenceRecord>,
    /// Who files it.
    pub requester: StaffId,
    /// When, in Unix seconds by the requester's clock (checked against the
    /// server's on filing).
    pub filed_at: u64,
    /// How long the subject's notice is to be withheld, in seconds (0: at
    /// once); at most the policy's `max_notice_delay_secs`.
    pub notice_delay_secs: u64,
    /// 32 random bytes: makes every request unique, and keeps the hash of a
    /// delayed request from being guessed before it is opened.
    pub nonce: [u8; 32],
}

impl Request {
    /// Checks the sizes and that the region fits the action.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.reasons.trim().is_empty() || self.reasons.len() > MAX_REASONS_LEN {
            return Err(RequestError::Reasons {
                len: self.reasons.len(),
            });
        }
        if self.evidence.len() > MAX_EVIDENCE {
            return Err(RequestError::TooMuchEvidence {
                count: self.evidence.len(),
            });
        }
        let global = self.region == Region::Global;
        if global == self.action.kind().has_user_subject() {
            return Err(RequestError::Region {
                action: self.action.kind(),
                region: self.region,
            });
        }
        if let Action::DiscloseAccountData {
            fields, recipient, ..
        } = &self.action
        {
            if fields.is_empty() {
                return Err(RequestError::NoFields);
            }
            if recipient.trim().is_empty() || recipient.len() > MAX_RECIPIENT_LEN {
                return Err(RequestError::Recipient {
                    len: recipient.len(),
                });
            }
        }
        if let Action::ChangePolicy { action, policy } = &self.action {
            policy
                .validate(*action)
                .map_err(|error| RequestError::Policy {
                    reason: error.to_string(),
                })?;
        }
        Ok(())
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode_into(&mut writer);
        writer.finish()
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer.u8(REQUEST_VERSION);
        self.action.encode(writer);
        self.region.encode(writer);
        writer.text(&self.reasons).count(self.evidence.len());
        for item in &self.evidence {
            item.encode(writer);
        }
        self.requester.encode(writer);
        writer
            .u64(self.filed_at)
            .u64(self.notice_delay_secs)
            .raw(&self.nonce);
    }

    /// Parses a canonical encoding, refusing anything else.
    pub fn decode(bytes: &[u8]) -> Result<Request, DecodeError> {
        if bytes.len() > MAX_REQUEST_LEN {
            return Err(DecodeError::TooLong {
                field: "request",
                len: bytes.len(),
                max: MAX_REQUEST_LEN,
            });
        }
        let mut reader = Reader::new(bytes);
        let request = Request::decode_from(&mut reader)?;
        reader.finish("request")?;
        Ok(request)
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Request, DecodeError> {
        reader.version("request", REQUEST_VERSION)?;
        let action = Action::decode(reader)?;
        let region = Region::decode(reader)?;
        let reasons = reader.text("reasons", MAX_REASONS_LEN)?;
        let count = reader.count("evidence", MAX_EVIDENCE)?;
        let evidence = (0..count)
            .map(|_| EvidenceRecord::decode(reader))
            .collect::<Result<_, _>>()?;
        let request = Request {
            action,
            region,
            reasons,
            evidence,
            requester: StaffId::decode(reader, "requester")?,
            filed_at: reader.u64("filed_at")?,
            notice_delay_secs: reader.u64("notice_delay_secs")?,
            nonce: reader.array("nonce")?,
        };
        request.validate().map_err(|error| DecodeError::Invalid {
            field: "request",
            reason: error.to_string(),
        })?;
        Ok(request)
    }

    /// The request's hash, which identifies it and which staff sign.
    pub fn hash(&self) -> RequestHash {
        RequestHash(Hash(
            Sha256::new()
                .chain_update(REQUEST_HASH_LABEL)
                .chain_update(self.encode())
                .finalize()
                .into(),
        ))
    }
}

/// A request's hash: its id in the API, the CLI and the ledger.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestHash(pub Hash);

impl RequestHash {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<RequestHash, DecodeError> {
        Ok(RequestHash(Hash(reader.array("request hash")?)))
    }
}

impl FromStr for RequestHash {
    type Err = RequestError;

    /// Parses 64 lowercase hex digits, as `Display` writes them.
    fn from_str(text: &str) -> Result<RequestHash, RequestError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(RequestError::HashText);
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            *byte = digit(pair[0])
                .zip(digit(pair[1]))
                .map(|(hi, lo)| hi << 4 | lo)
                .ok_or(RequestError::HashText)?;
        }
        Ok(RequestHash(Hash(out)))
    }
}

impl fmt::Display for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_hex())
    }
}

impl fmt::Debug for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestHash({})", self.0.to_hex())
    }
}

/// A request with its requester's signature over its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    request: Request,
    hash: RequestHash,
    signature: Signature,
}

impl SignedRequest {
    /// Signs `request` with the requester's key (on the requester's machine).
    pub fn sign(request: Request, key: &SigningKey) -> SignedRequest {
        let hash = request.hash();
        let signature = key.sign(&request_message(&hash));
        SignedRequest {
            request,
            hash,
            signature,
        }
    }

    /// Joins a request with a signature received from outside; check it with
    /// [`SignedRequest::verify`].
    pub fn from_parts(request: Request, signature: Signature) -> SignedRequest {
        SignedRequest {
            hash: request.hash(),
            request,
            signature,
        }
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Its hash.
    pub fn hash(&self) -> RequestHash {
        self.hash
    }

    /// The requester's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Whether `requester` signed this request.
    pub fn verify(&self, requester: &StaffMember) -> bool {
        requester.id == self.request.requester
            && requester.verify(&request_message(&self.hash), &self.signature)
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        self.request.encode_into(writer);
        writer.raw(&self.signature.to_bytes());
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<SignedRequest, DecodeError> {
        let request = Request::decode_from(reader)?;
        let signature = decode_signature(reader, "request signature")?;
        Ok(SignedRequest::from_parts(request, signature))
    }

    /// The canonical encoding: the request, then the 64-byte signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode_into(&mut writer);
        writer.finish()
    }

    /// Parses [`SignedRequest::encode`]'s output (the staff API's body for a
    /// new request). The signature is not checked here.
    pub fn decode(bytes: &[u8]) -> Result<SignedRequest, DecodeError> {
        if bytes.len() > MAX_REQUEST_LEN {
            return Err(DecodeError::TooLong {
                field: "signed request",
                len: bytes.len(),
                max: MAX_REQUEST_LEN,
            });
        }
        let mut reader = Reader::new(bytes);
        let signed = SignedRequest::decode_from(&mut reader)?;
        reader.finish("signed request")?;
        Ok(signed)
    }
}

fn request_message(hash: &RequestHash) -> Vec<u8> {
    [REQUEST_SIGNATURE_LABEL, hash.as_bytes()].concat()
}

/// A staff member's signed approval of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The request approved.
    pub request: RequestHash,
    /// Who approves.
    pub staff: StaffId,
    /// When they signed, in Unix seconds.
    pub signed_at: u64,
    /// Their signature.
    pub signature: Signature,
}

impl Approval {
    /// Signs an approval (on the approver's machine).
    pub fn sign(
        request: RequestHash,
        staff: StaffId,
        signed_at: u64,
        key: &SigningKey,
    ) -> Approval {
        let signature = key.sign(&approval_message(&request, &staff, signed_at));
        Approval {
            request,
            staff,
            signed_at,
            signature,
        }
    }

    /// Whether `member` made this signature.
    pub fn verify(&self, member: &StaffMember) -> bool {
        member.id == self.staff
            && member.verify(
                &approval_message(&self.request, &self.staff, self.signed_at),
                &self.signature,
            )
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer.raw(self.request.as_bytes());
        self.staff.encode(writer);
        writer.u64(self.signed_at).raw(&self.signature.to_bytes());
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Approval, DecodeError> {
        Ok(Approval {
            request: RequestHash::decode(reader)?,
            staff: StaffId::decode(reader, "approver")?,
            signed_at: reader.u64("approval time")?,
            signature: decode_signature(reader, "approval signature")?,
        })
    }

    /// The canonical encoding (the staff API's body for an approval).
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode_into(&mut writer);
        writer.finish()
    }

    /// Parses [`Approval::encode`]'s output; the signature is not checked here.
    pub fn decode(bytes: &[u8]) -> Result<Approval, DecodeError> {
        let mut reader = Reader::new(bytes);
        let approval = Approval::decode_from(&mut reader)?;
        reader.finish("approval")?;
        Ok(approval)
    }
}

fn approval_message(request: &RequestHash, staff: &StaffId, signed_at: u64) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.raw(APPROVAL_LABEL).raw(request.as_bytes());
    staff.encode(&mut writer);
    writer.u64(signed_at);
    writer.finish()
}

/// A staff member's signed veto of a pending request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Veto {
    /// The request vetoed.
    pub request: RequestHash,
    /// Who vetoes.
    pub staff: StaffId,
    /// When they signed, in Unix seconds.
    pub signed_at: u64,
    /// Why, for the ledger: 1 to [`MAX_VETO_REASON_LEN`] bytes.
    pub reason: String,
    /// Their signature.
    pub signature: Signature,
}

impl Veto {
    /// Signs a veto (on the vetoer's machine).
    pub fn sign(
        request: RequestHash,
        staff: StaffId,
        signed_at: u64,
        reason: String,
        key: &SigningKey,
    ) -> Veto {
        let signature = key.sign(&veto_message(&request, &staff, signed_at, &reason));
        Veto {
            request,
            staff,
            signed_at,
            reason,
            signature,
        }
    }

    /// Whether `member` made this signature.
    pub fn verify(&self, member: &StaffMember) -> bool {
        member.id == self.staff
            && member.verify(
                &veto_message(&self.request, &self.staff, self.signed_at, &self.reason),
                &self.signature,
            )
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer.raw(self.request.as_bytes());
        self.staff.encode(writer);
        writer
            .u64(self.signed_at)
            .text(&self.reason)
            .raw(&self.signature.to_bytes());
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Veto, DecodeError> {
        let veto = Veto {
            request: RequestHash::decode(reader)?,
            staff: StaffId::decode(reader, "vetoer")?,
            signed_at: reader.u64("veto time")?,
            reason: reader.text("veto reason", MAX_VETO_REASON_LEN)?,
            signature: decode_signature(reader, "veto signature")?,
        };
        if veto.reason.trim().is_empty() {
            return Err(DecodeError::Invalid {
                field: "veto reason",
                reason: "is empty".into(),
            });
        }
        Ok(veto)
    }

    /// The canonical encoding (the staff API's body for a veto).
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode_into(&mut writer);
        writer.finish()
    }

    /// Parses [`Veto::encode`]'s output; the signature is not checked here.
    pub fn decode(bytes: &[u8]) -> Result<Veto, DecodeError> {
        let mut reader = Reader::new(bytes);
        let veto = Veto::decode_from(&mut reader)?;
        reader.finish("veto")?;
        Ok(veto)
    }
}

fn veto_message(request: &RequestHash, staff: &StaffId, signed_at: u64, reason: &str) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.raw(VETO_LABEL).raw(request.as_bytes());
    staff.encode(&mut writer);
    writer.u64(signed_at).text(reason);
    writer.finish()
}

/// Why a request is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The statement of reasons is empty or too long.
    #[error("the statement of reasons is {len} bytes; it must be non-blank and at most {MAX_REASONS_LEN}")]
    Reasons {
        /// Its length.
        len: usize,
    },
    /// More evidence items than allowed.
    #[error("{count} evidence items; at most {MAX_EVIDENCE} are accepted")]
    TooMuchEvidence {
        /// How many.
        count: usize,
    },
    /// The region does not fit the action.
    #[error("{action} with region {region}: accounts and meetings need a country, staff and policy changes the global region")]
    Region {
        /// The action.
        action: ActionKind,
        /// The region given.
        region: Region,
    },
    /// A disclosure names no field.
    #[error("a disclosure must name at least one account field")]
    NoFields,
    /// The recipient is empty or too long.
    #[error("the disclosure recipient is {len} bytes; it must be non-blank and at most {MAX_RECIPIENT_LEN}")]
    Recipient {
        /// Its length.
        len: usize,
    },
    /// A field name that does not exist.
    #[error(
        "unknown account field {name:?}; fields are username, display_name, avatar, created_at"
    )]
    UnknownField {
        /// The name given.
        name: String,
    },
    /// The new policy of a `change_policy` request is invalid.
    #[error("the proposed policy is invalid: {reason}")]
    Policy {
        /// Why.
        reason: String,
    },
    /// A request id is not 64 lowercase hex digits.
    #[error("a request id is 64 lowercase hex digits")]
    HashText,
}
