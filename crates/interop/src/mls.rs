//! `interop mls`: an MLS session between the Rust e2ee crate and the web client, one JSON
//! command per line on stdin, one JSON answer per line on stdout.
//!
//! The Rust side plays the server ([`ServerGroupView`], the group's only external sender) and
//! up to two members made as the e2ee crate makes them: `alice` (an account, the group's
//! creator) and `carol` (a guest the web client's commit adds). The web client's Vitest suite
//! (`web/test/mls-interop.test.ts`) drives it; nothing is committed as a fixture.

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{bail, Context};
use e2ee::franking::AccountId;
use e2ee::identity::{
    Admission, Admissions, IdentityKey, IdentityKeyPair, KeyDirectory, MemberIdentity,
    ParticipantId,
};
use e2ee::member::{HandshakeOutcome, Member, PendingMember};
use e2ee::server_view::{ServerGroupView, ServerSigningKey, ValidatedKeyPackage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{hex, to_hex};

/// The longest command line accepted (a KeyPackage or commit in hex is a few KiB).
const MAX_LINE: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
enum Command {
    /// Alice creates the group with the server as external sender.
    Setup { group_id: String },
    /// The server's external-sender key, for a group the web client creates.
    ServerKey,
    /// The web client created the group: the server follows it from its bootstrap, and the
    /// web client (an account) is seated.
    Adopt {
        group_info: String,
        ratchet_tree: String,
        participant: String,
        account: String,
        key: String,
    },
    /// The server proposes Add of the web client's KeyPackage, Alice commits it.
    AddWeb {
        key_package: String,
        participant: String,
        account: Option<String>,
    },
    /// Carol (a guest) makes a KeyPackage; the server proposes her Add, Alice stores it.
    ProposeCarol { participant: String },
    /// The server proposes a participant's removal; the Rust members store it.
    ProposeRemove { participant: String },
    /// A commit from the web client: the server orders it, the Rust members follow it, and
    /// Carol joins from its Welcome if it adds her.
    Submit {
        commit: String,
        welcome: Option<String>,
    },
    /// Encrypts a frame as `who`.
    Encrypt { who: String, frame: String },
    /// Decrypts an SFrame frame as `who`.
    Decrypt { who: String, sframe: String },
}

struct Session {
    start: Instant,
    server: ServerSigningKey,
    view: Option<ServerGroupView>,
    alice: Option<Member>,
    carol_pending: Option<PendingMember>,
    carol: Option<Member>,
    seated: Admissions,
    directory: KeyDirectory,
}

/// Runs the session until stdin closes.
pub fn run() -> anyhow::Result<()> {
    let mut rng = rand::thread_rng();
    let mut session = Session {
        start: Instant::now(),
        server: ServerSigningKey::generate(&mut rng),
        view: None,
        alice: None,
        carol_pending: None,
        carol: None,
        seated: Admissions::new(),
        directory: KeyDirectory::new(),
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.context("reading a command")?;
        let answer = if line.len() > MAX_LINE {
            json!({ "error": format!("command of {} bytes is over {MAX_LINE}", line.len()) })
        } else {
            match serde_json::from_str::<Command>(&line)
                .context("parsing a command")
                .and_then(|command| session.handle(command))
            {
                Ok(value) => value,
                Err(e) => json!({ "error": format!("{e:#}") }),
            }
        };
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    Ok(())
}

#[derive(Serialize)]
struct MemberState {
    epoch: String,
    leaf: u32,
    safety_code: String,
    removed: bool,
    roster: Vec<String>,
}

fn state(member: &Member) -> anyhow::Result<MemberState> {
    Ok(MemberState {
        epoch: member.epoch().value().to_string(),
        leaf: member.own_leaf().value(),
        safety_code: member.safety_code().to_string(),
        removed: member.is_removed(),
        roster: member
            .roster()?
            .iter()
            .map(|entry| entry.identity.participant().to_string())
            .collect(),
    })
}

fn identity(participant: &str, account: Option<&str>) -> anyhow::Result<MemberIdentity> {
    let participant = ParticipantId::new(participant)?;
    Ok(match account {
        Some(account) => MemberIdentity::account(participant, AccountId::new(account)?),
        None => MemberIdentity::guest(participant),
    })
}

fn admission(identity: &MemberIdentity) -> Admission {
    Admission {
        participant: identity.participant().clone(),
        account: identity.account_id().cloned(),
    }
}

impl Session {
    fn now(&self) -> Instant {
        self.start
    }

    fn view(&mut self) -> anyhow::Result<&mut ServerGroupView> {
        self.view.as_mut().context("no group yet: send setup first")
    }

    fn member(&mut self, who: &str) -> anyhow::Result<&mut Member> {
        match who {
            "alice" => self.alice.as_mut().context("alice is not in a group"),
            "carol" => self.carol.as_mut().context("carol has not joined"),
            other => bail!("no member {other:?}"),
        }
    }

    fn states(&self) -> anyhow::Result<Value> {
        let mut out = serde_json::Map::new();
        if let Some(alice) = &self.alice {
            out.insert("alice".into(), serde_json::to_value(state(alice)?)?);
        }
        if let Some(carol) = &self.carol {
            out.insert("carol".into(), serde_json::to_value(state(carol)?)?);
        }
        Ok(Value::Object(out))
    }

    /// Every Rust member that is still in the group processes a server proposal.
    fn deliver_proposal(&mut self, proposal: &[u8]) -> anyhow::Result<()> {
        let now = self.now();
        for member in [self.alice.as_mut(), self.carol.as_mut()]
            .into_iter()
            .flatten()
        {
            if !member.is_removed() {
                member
                    .process_handshake(proposal, &self.directory, now)
                    .context("a Rust member processing the server's proposal")?;
            }
        }
        Ok(())
    }

    fn handle(&mut self, command: Command) -> anyhow::Result<Value> {
        let now = self.now();
        match command {
            Command::Setup { group_id } => {
                let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
                let alice = identity("p-alice", Some("acct-alice"))?;
                self.directory
                    .insert(AccountId::new("acct-alice")?, keys.public());
                self.seated.record(admission(&alice));
                let pending = PendingMember::new(alice, &keys)?;
                let (member, bootstrap) =
                    pending.create_group(&hex(&group_id)?, &self.server.public(), now)?;
                self.view = Some(ServerGroupView::from_bootstrap(
                    &bootstrap.group_info,
                    &bootstrap.ratchet_tree,
                    &self.server,
                )?);
                self.alice = Some(member);
                Ok(json!({
                    "server_key": to_hex(self.server.public().as_bytes()),
                    "alice_key": to_hex(keys.public().as_bytes()),
                    "group_info": to_hex(&bootstrap.group_info),
                    "ratchet_tree": to_hex(&bootstrap.ratchet_tree),
                    "members": self.states()?,
                }))
            }
            Command::ServerKey => Ok(json!({
                "server_key": to_hex(self.server.public().as_bytes()),
            })),
            Command::Adopt {
                group_info,
                ratchet_tree,
                participant,
                account,
                key,
            } => {
                let view = ServerGroupView::from_bootstrap(
                    &hex(&group_info)?,
                    &hex(&ratchet_tree)?,
                    &self.server,
                )
                .context("the server following the web group")?;
                let web = identity(&participant, Some(&account))?;
                self.directory.insert(
                    AccountId::new(account)?,
                    IdentityKey::from_slice(&hex(&key)?)?,
                );
                self.seated.record(admission(&web));
                let roster: Vec<String> = view
                    .roster()?
                    .iter()
                    .map(|(_, identity)| identity.participant().to_string())
                    .collect();
                self.view = Some(view);
                Ok(json!({
                    "server_key": to_hex(self.server.public().as_bytes()),
                    "roster": roster,
                }))
            }
            Command::AddWeb {
                key_package,
                participant,
                account,
            } => {
                let web = identity(&participant, account.as_deref())?;
                let validated = ValidatedKeyPackage::parse(&hex(&key_package)?)
                    .context("the server parsing the web KeyPackage")?;
                if validated.identity() != &web {
                    bail!("the web KeyPackage names {:?}", validated.identity());
                }
                if let Some(account) = web.account_id() {
                    self.directory.insert(account.clone(), *validated.key());
                }
                self.seated.record(admission(&web));
                let proposal = self.view()?.propose_add(validated)?;
                let alice = self.alice.as_mut().context("no group yet")?;
                alice.record_admission(admission(&web));
                alice
                    .process_handshake(&proposal, &self.directory, now)
                    .context("alice processing the server's Add")?;
                let commit = alice
                    .commit_pending()?
                    .context("alice had nothing to commit")?;
                let accepted = self
                    .view()?
                    .submit_commit(&commit.commit, commit.welcome.as_deref())?;
                let alice = self.alice.as_mut().context("no group yet")?;
                alice.commit_accepted(now)?;
                let joiners = accepted.joiners.context("the commit added nobody")?;
                Ok(json!({
                    "proposal": to_hex(&proposal),
                    "commit": to_hex(&accepted.commit),
                    "welcome": to_hex(&joiners.welcome),
                    "ratchet_tree": to_hex(&joiners.ratchet_tree),
                    "members": self.states()?,
                }))
            }
            Command::ProposeCarol { participant } => {
                let carol = identity(&participant, None)?;
                let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
                let pending = PendingMember::new(carol.clone(), &keys)?;
                let validated = ValidatedKeyPackage::parse(pending.key_package())?;
                let proposal = self.view()?.propose_add(validated)?;
                if let Some(alice) = self.alice.as_mut() {
                    alice.record_admission(admission(&carol));
                }
                self.deliver_proposal(&proposal)?;
                self.carol_pending = Some(pending);
                Ok(json!({ "proposal": to_hex(&proposal) }))
            }
            Command::ProposeRemove { participant } => {
                let participant = ParticipantId::new(participant)?;
                let proposal = self
                    .view()?
                    .propose_remove(&participant)?
                    .context("the server had nothing to propose")?;
                self.deliver_proposal(&proposal)?;
                Ok(json!({ "proposal": to_hex(&proposal) }))
            }
            Command::Submit { commit, welcome } => {
                let commit = hex(&commit)?;
                let welcome = welcome.map(|w| hex(&w)).transpose()?;
                let accepted = self
                    .view()?
                    .submit_commit(&commit, welcome.as_deref())
                    .context("the server ordering the web commit")?;
                for (name, member) in [
                    ("alice", self.alice.as_mut()),
                    ("carol", self.carol.as_mut()),
                ] {
                    if let Some(member) = member.filter(|m| !m.is_removed()) {
                        let outcome = member
                            .process_handshake(&accepted.commit, &self.directory, now)
                            .with_context(|| format!("{name} processing the web commit"))?;
                        if !matches!(outcome, HandshakeOutcome::EpochChanged(_)) {
                            bail!("{name} did not change epoch");
                        }
                    }
                }
                if let Some(joiners) = accepted.joiners {
                    let pending = self
                        .carol_pending
                        .take()
                        .context("a Welcome but no Rust joiner")?;
                    let carol = pending
                        .join(
                            &joiners.welcome,
                            &joiners.ratchet_tree,
                            &self.server.public(),
                            &self.seated,
                            &self.directory,
                            now,
                        )
                        .context("carol joining from the web Welcome")?;
                    self.seated.record(admission(carol.identity()));
                    self.carol = Some(carol);
                }
                Ok(
                    json!({ "epoch": accepted.epoch.value().to_string(), "members": self.states()? }),
                )
            }
            Command::Encrypt { who, frame } => {
                let sframe = self.member(&who)?.encrypt_frame(&hex(&frame)?)?;
                Ok(json!({ "sframe": to_hex(&sframe) }))
            }
            Command::Decrypt { who, sframe } => {
                let frame = self.member(&who)?.decrypt_frame(&hex(&sframe)?, now)?;
                Ok(json!({
                    "sender": frame.sender().value(),
                    "epoch": frame.epoch().value().to_string(),
                    "payload": to_hex(frame.payload()),
                }))
            }
        }
    }
}
