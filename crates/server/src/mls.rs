//! A meeting's MLS group as the server follows it (issue #4): sans-IO, owned by the room task.
//!
//! The server is the group's only external sender. It asks the first seated participant to
//! create the group, proposes Add for every seated participant whose KeyPackage it has (after
//! announcing the admission to the members) and Remove for everyone who leaves, orders
//! commits (the first valid one of an epoch wins), routes Welcomes, and tags chat commitments
//! with its franking key. It holds no group secret: see [`e2ee::server_view`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use e2ee::franking::{self, Commitment, ServerFrankingKey, Timestamp};
use e2ee::identity::MemberKind;
use e2ee::server_view::{ServerGroupView, ServerSigningKey, ValidatedKeyPackage};
use proto::ids::{AccountId, MeetingId, ParticipantId};
use proto::signaling::{ErrorCode, MlsAdmission, ServerMessage};

/// What the room task must do for the group.
#[derive(Debug)]
pub enum MlsOutput {
    /// Send `msg` to these participants.
    Send {
        /// Recipients.
        to: Vec<ParticipantId>,
        /// The message.
        msg: ServerMessage,
    },
}

/// An MLS message from a seated participant.
#[derive(Debug)]
pub enum MlsInput {
    /// `mls_group`.
    Group {
        /// GroupInfo.
        group_info: Vec<u8>,
        /// Ratchet tree.
        ratchet_tree: Vec<u8>,
    },
    /// `mls_key_package`.
    KeyPackage(Vec<u8>),
    /// `mls_commit`.
    Commit {
        /// The epoch the client says it committed in.
        epoch: u64,
        /// The commit.
        commit: Vec<u8>,
        /// The Welcome, if any.
        welcome: Option<Vec<u8>>,
    },
    /// `chat_send`.
    Chat {
        /// The MLS application message.
        message: Vec<u8>,
        /// The sender's commitment.
        commitment: Vec<u8>,
    },
}

/// One meeting's group.
pub struct MeetingGroup {
    meeting: MeetingId,
    server_key: ServerSigningKey,
    franking: Arc<ServerFrankingKey>,
    view: Option<ServerGroupView>,
    /// Who was asked to create the group, while there is none.
    creator: Option<ParticipantId>,
    /// Seated participants and their accounts.
    seated: HashMap<ParticipantId, Option<AccountId>>,
    /// KeyPackages that wait for the group to exist.
    waiting: HashMap<ParticipantId, ValidatedKeyPackage>,
    outputs: VecDeque<MlsOutput>,
}

impl MeetingGroup {
    /// A meeting with no group yet; `server_key` is this meeting's external-sender key.
    pub fn new(
        meeting: MeetingId,
        server_key: ServerSigningKey,
        franking: Arc<ServerFrankingKey>,
    ) -> Self {
        MeetingGroup {
            meeting,
            server_key,
            franking,
            view: None,
            creator: None,
            seated: HashMap::new(),
            waiting: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The group's epoch, once it exists.
    pub fn epoch(&self) -> Option<u64> {
        self.view.as_ref().map(|v| v.epoch().value())
    }

    /// The group as the SFU's E2EE gate needs it: the epoch and each member's leaf.
    pub fn media_view(&self) -> Option<sfu::GroupEpoch> {
        let view = self.view.as_ref()?;
        let roster = match view.roster() {
            Ok(roster) => roster,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the group's roster for the SFU");
                return None;
            }
        };
        let leaves = roster
            .into_iter()
            .filter_map(|(leaf, identity)| {
                let id = identity.participant().as_str().parse().ok()?;
                Some((id, leaf.value()))
            })
            .collect();
        Some(sfu::GroupEpoch {
            epoch: view.epoch().value(),
            leaves,
        })
    }

    /// Someone was seated: the first one is asked to create the group.
    pub fn seated(&mut self, who: ParticipantId, account: Option<AccountId>) {
        self.seated.insert(who, account);
        self.ask_to_create();
    }

    /// Someone left the seats (leave, removal, timeout, end): propose their removal.
    pub fn unseated(&mut self, who: &ParticipantId) {
        self.seated.remove(who);
        self.waiting.remove(who);
        if self.creator.as_ref() == Some(who) {
            self.creator = None;
            self.ask_to_create();
        }
        let Some(view) = self.view.as_mut() else {
            return;
        };
        let Ok(participant) = e2ee::identity::ParticipantId::new(who.as_str()) else {
            return;
        };
        match view.propose_remove(&participant) {
            Ok(Some(proposal)) => {
                let to = self.members();
                self.push(
                    to,
                    ServerMessage::MlsProposal {
                        message: proposal.into(),
                    },
                );
            }
            Ok(None) => {}
            // Never added (left before its KeyPackage came): nothing to remove.
            Err(e) => tracing::debug!(error = %e, "no remove proposal"),
        }
    }

    /// An MLS message from a seated participant.
    pub fn input(&mut self, from: &ParticipantId, input: MlsInput, now_unix_millis: u64) {
        let Some(account) = self.seated.get(from).cloned() else {
            return;
        };
        let result = match input {
            MlsInput::Group {
                group_info,
                ratchet_tree,
            } => self.group(from, &group_info, &ratchet_tree),
            MlsInput::KeyPackage(bytes) => self.key_package(from, account.as_ref(), &bytes),
            MlsInput::Commit {
                epoch,
                commit,
                welcome,
            } => {
                self.commit(from, epoch, &commit, welcome.as_deref());
                Ok(())
            }
            MlsInput::Chat {
                message,
                commitment,
            } => self.chat(
                from,
                account.as_ref(),
                &message,
                &commitment,
                now_unix_millis,
            ),
        };
        if let Err(problem) = result {
            self.push(
                vec![from.clone()],
                ServerMessage::Error {
                    code: ErrorCode::MlsRejected,
                    message: problem,
                },
            );
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<MlsOutput> {
        self.outputs.pop_front()
    }

    fn ask_to_create(&mut self) {
        if self.view.is_some() || self.creator.is_some() {
            return;
        }
        // The longest-seated is not tracked here; any seated participant can create it.
        let Some(first) = self.seated.keys().next().cloned() else {
            return;
        };
        self.creator = Some(first.clone());
        let msg = ServerMessage::MlsCreate {
            group_id: self.group_id().into(),
            server_key: self.server_key.public().as_bytes().to_vec().into(),
        };
        self.push(vec![first], msg);
    }

    fn group_id(&self) -> Vec<u8> {
        self.meeting.as_str().as_bytes().to_vec()
    }

    fn group(
        &mut self,
        from: &ParticipantId,
        group_info: &[u8],
        ratchet_tree: &[u8],
    ) -> Result<(), String> {
        if self.view.is_some() || self.creator.as_ref() != Some(from) {
            return Err("the server did not ask you to create the group".into());
        }
        let view = ServerGroupView::from_bootstrap(group_info, ratchet_tree, &self.server_key)
            .map_err(|e| e.to_string())?;
        if view.group_id() != self.group_id().as_slice() {
            return Err("the group has another id than the one in mls_create".into());
        }
        let roster = view.roster().map_err(|e| e.to_string())?;
        if !matches!(roster.as_slice(), [(_, only)] if only.participant().as_str() == from.as_str())
        {
            return Err("a new group must hold exactly its creator".into());
        }
        self.view = Some(view);
        self.creator = None;
        self.waiting.remove(from);
        let waiting: Vec<_> = self.waiting.drain().map(|(_, kp)| kp).collect();
        for key_package in waiting {
            self.propose_add(key_package);
        }
        Ok(())
    }

    fn key_package(
        &mut self,
        from: &ParticipantId,
        account: Option<&AccountId>,
        bytes: &[u8],
    ) -> Result<(), String> {
        let key_package = ValidatedKeyPackage::parse(bytes).map_err(|e| e.to_string())?;
        let identity = key_package.identity();
        let same_account = match identity.kind() {
            MemberKind::Guest => account.is_none(),
            MemberKind::Account(id) => account.is_some_and(|a| a.as_str() == id.as_str()),
        };
        if identity.participant().as_str() != from.as_str() || !same_account {
            return Err("the KeyPackage's credential is not this participant and account".into());
        }
        if self.view.is_none() {
            if self.creator.as_ref() != Some(from) {
                self.waiting.insert(from.clone(), key_package);
            }
            return Ok(());
        }
        self.propose_add(key_package);
        Ok(())
    }

    /// Announces the admission to the members, then proposes the Add.
    fn propose_add(&mut self, key_package: ValidatedKeyPackage) {
        let Some(view) = self.view.as_mut() else {
            return;
        };
        let Ok(participant_id) = key_package.identity().participant().as_str().parse() else {
            return;
        };
        let account_id = self.seated.get(&participant_id).cloned().flatten();
        let proposal = match view.propose_add(key_package) {
            Ok(proposal) => proposal,
            Err(e) => {
                tracing::debug!(error = %e, "no add proposal");
                return;
            }
        };
        let to = self.members();
        self.push(
            to.clone(),
            ServerMessage::MlsAdmitted {
                participant_id,
                account_id,
            },
        );
        self.push(
            to,
            ServerMessage::MlsProposal {
                message: proposal.into(),
            },
        );
    }

    fn commit(&mut self, from: &ParticipantId, epoch: u64, commit: &[u8], welcome: Option<&[u8]>) {
        let before = self.members();
        let Some(view) = self.view.as_mut() else {
            self.push(
                vec![from.clone()],
                ServerMessage::MlsCommitRefused {
                    reason: "the group does not exist yet".into(),
                    current_epoch: 0,
                },
            );
            return;
        };
        let current = view.epoch().value();
        if epoch != current {
            self.push(
                vec![from.clone()],
                ServerMessage::MlsCommitRefused {
                    reason: format!("commit for epoch {epoch}, but the group is at {current}"),
                    current_epoch: current,
                },
            );
            return;
        }
        match view.submit_commit(commit, welcome) {
            Ok(accepted) => {
                let others: Vec<_> = before.into_iter().filter(|p| p != from).collect();
                self.push(
                    vec![from.clone()],
                    ServerMessage::MlsCommitAccepted {
                        epoch: accepted.epoch.value(),
                    },
                );
                self.push(
                    others,
                    ServerMessage::MlsCommit {
                        message: accepted.commit.into(),
                    },
                );
                if let Some(joiners) = accepted.joiners {
                    let to = joiners
                        .recipients
                        .iter()
                        .filter_map(|p| p.as_str().parse().ok())
                        .collect();
                    let msg = ServerMessage::MlsWelcome {
                        welcome: joiners.welcome.into(),
                        ratchet_tree: joiners.ratchet_tree.into(),
                        server_key: self.server_key.public().as_bytes().to_vec().into(),
                        admissions: self.admissions(),
                    };
                    self.push(to, msg);
                }
                let members = self.members();
                for proposal in accepted.proposals {
                    self.push(
                        members.clone(),
                        ServerMessage::MlsProposal {
                            message: proposal.into(),
                        },
                    );
                }
            }
            Err(refused) => {
                let current_epoch = self.epoch().unwrap_or(current);
                self.push(
                    vec![from.clone()],
                    ServerMessage::MlsCommitRefused {
                        reason: refused.to_string(),
                        current_epoch,
                    },
                );
            }
        }
    }

    fn chat(
        &mut self,
        from: &ParticipantId,
        account: Option<&AccountId>,
        message: &[u8],
        commitment: &[u8],
        now_unix_millis: u64,
    ) -> Result<(), String> {
        #[cfg(feature = "tap")]
        crate::tap::see_chat(message);
        let view = self.view.as_ref().ok_or("the group does not exist yet")?;
        let committed = view.check_chat(message).map_err(|e| e.to_string())?;
        let given = <[u8; franking::FRANKING_KEY_LEN]>::try_from(commitment)
            .map(Commitment::from_bytes)
            .map_err(|_| "a commitment is 32 bytes")?;
        if given != committed {
            return Err("the commitment differs from the one in the message".into());
        }
        let sender = franking_account(from, account).map_err(|e| e.to_string())?;
        let meeting = franking::MeetingId::new(self.meeting.as_str()).map_err(|e| e.to_string())?;
        let timestamp = Timestamp::from_unix_millis(now_unix_millis);
        let tag = self.franking.tag(&committed, &sender, &meeting, timestamp);
        let to: Vec<_> = self.members().into_iter().filter(|p| p != from).collect();
        self.push(
            to,
            ServerMessage::Chat {
                message: message.to_vec().into(),
                commitment: committed.as_bytes().to_vec().into(),
                tag: tag.as_bytes().to_vec().into(),
                sender_account_id: account.cloned(),
                timestamp: now_unix_millis,
            },
        );
        Ok(())
    }

    /// The group's members by participant id, as the public view has them.
    fn members(&self) -> Vec<ParticipantId> {
        let Some(view) = self.view.as_ref() else {
            return Vec::new();
        };
        view.roster()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, identity)| identity.participant().as_str().parse().ok())
            .collect()
    }

    fn admissions(&self) -> Vec<MlsAdmission> {
        self.seated
            .iter()
            .map(|(participant_id, account_id)| MlsAdmission {
                participant_id: participant_id.clone(),
                account_id: account_id.clone(),
            })
            .collect()
    }

    fn push(&mut self, to: Vec<ParticipantId>, msg: ServerMessage) {
        if !to.is_empty() {
            self.outputs.push_back(MlsOutput::Send { to, msg });
        }
    }
}

/// The account a franking tag names: the account, or `guest:<participant>` for a guest.
pub fn franking_account(
    who: &ParticipantId,
    account: Option<&AccountId>,
) -> Result<franking::AccountId, franking::FrankingError> {
    match account {
        Some(account) => franking::AccountId::new(account.as_str()),
        None => franking::AccountId::new(format!("guest:{}", who.as_str())),
    }
}
