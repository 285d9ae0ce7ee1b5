//! `conclave bench mls`: what the MLS group of an N-member meeting costs its members and the
//! server, measured on the real e2ee driver (openmls) in this process, without sockets.
//!
//! The run:
//! 1. a creator makes the group with the server's view following it;
//! 2. `N - tracked` participants are admitted in batches of [`BATCH`]: the server proposes
//!    their Adds, the creator commits, the server accepts. These members only occupy leaves
//!    (their Welcomes are not opened), which is what the other members' costs depend on;
//! 3. the remaining `tracked - 1` participants are admitted one per commit and join from
//!    their Welcome and the ratchet tree (**join**: Welcome and tree to a ready member,
//!    SFrame keys installed); the tracked members already in the group process each of these
//!    commits (**process add**);
//! 4. `--removes` times, the server proposes removing one untracked member, a tracked member
//!    (in turn) commits it (**commit remove**: building the commit, then merging it after the
//!    server's acceptance) and the other tracked members process it (**process remove**).
//!
//! Every add in step 2 is committed without an update path (MLS needs none for adds), so the
//! tree's parent nodes start blank and the first remove commits encrypt to nearly every leaf:
//! the worst case for the committer and for commit size. Each remove commit then fills one
//! path, as in a meeting where people come and go.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use e2ee::franking::AccountId;
use e2ee::identity::{
    Admission, Admissions, IdentityKeyPair, KeyDirectory, MemberIdentity, ParticipantId,
};
use e2ee::member::{Member, PendingMember};
use e2ee::server_view::{AcceptedCommit, ServerGroupView, ServerSigningKey, ValidatedKeyPackage};
use serde::Serialize;

/// Untracked members are added this many per commit during setup.
const BATCH: usize = 100;

/// Options of `conclave bench mls`.
#[derive(Debug, Clone, clap::Args)]
pub struct MlsArgs {
    /// Members of the group at its largest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(3..=10_000))]
    pub members: u32,
    /// Members that run a full client and are timed; the others only occupy leaves.
    #[arg(long, value_name = "K", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..=64))]
    pub tracked: u32,
    /// Remove commits to time.
    #[arg(long, value_name = "R", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub removes: u32,
    /// Where to write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: PathBuf,
}

/// The figures `conclave bench mls` writes.
#[derive(Debug, Serialize)]
pub struct MlsReport {
    /// Members at the largest.
    pub members: usize,
    /// Members that ran a full client.
    pub tracked: usize,
    /// Seconds spent building the group before the timed steps.
    pub setup_s: f64,
    /// Joiner: Welcome and ratchet tree to a ready member (p50, ms).
    pub join_ms_p50: f64,
    /// Joiner (p95, ms).
    pub join_ms_p95: f64,
    /// Existing member processing a commit that adds one member (p50, ms).
    pub process_add_ms_p50: f64,
    /// Same (p95, ms).
    pub process_add_ms_p95: f64,
    /// Existing member processing a commit that removes one member (p50, ms).
    pub process_remove_ms_p50: f64,
    /// Same (p95, ms).
    pub process_remove_ms_p95: f64,
    /// Committer of a remove: build the commit, then merge it once accepted (p50, ms).
    pub commit_remove_ms_p50: f64,
    /// Same (p95, ms).
    pub commit_remove_ms_p95: f64,
    /// Committer of a one-member add, same steps (p50, ms).
    pub commit_add_ms_p50: f64,
    /// Same (p95, ms).
    pub commit_add_ms_p95: f64,
    /// Server view validating and accepting a remove commit (p50, ms).
    pub server_accept_remove_ms_p50: f64,
    /// Same (p95, ms).
    pub server_accept_remove_ms_p95: f64,
    /// Welcome for one joiner (p50, bytes); the tree travels separately.
    pub welcome_bytes: usize,
    /// Ratchet tree sent beside a Welcome at the largest size (bytes).
    pub ratchet_tree_bytes: usize,
    /// Remove commit (p50, bytes).
    pub commit_bytes: usize,
    /// Remove commit (p95, bytes).
    pub commit_bytes_p95: usize,
    /// One-member add commit (p50, bytes).
    pub add_commit_bytes: usize,
    /// Samples behind each figure: joins, add processings, remove processings, remove commits.
    pub samples: Samples,
}

/// How many measurements each figure rests on.
#[derive(Debug, Serialize)]
pub struct Samples {
    /// Joins.
    pub join: usize,
    /// Add commits processed.
    pub process_add: usize,
    /// Remove commits processed.
    pub process_remove: usize,
    /// Remove commits made.
    pub commit_remove: usize,
}

/// Runs the bench and prints a summary; the exit code says whether it completed.
pub fn main(args: MlsArgs) -> ExitCode {
    match run(&args) {
        Ok(report) => {
            print_summary(&report);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("conclave bench mls: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the bench and writes the JSON report.
pub fn run(args: &MlsArgs) -> anyhow::Result<MlsReport> {
    let members = usize::try_from(args.members)?;
    let tracked = usize::try_from(args.tracked)?;
    if tracked >= members {
        bail!("--tracked ({tracked}) must be smaller than --members ({members})");
    }
    let report = measure(members, tracked, usize::try_from(args.removes)?)?;
    let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
    std::fs::write(&args.json, json + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))?;
    Ok(report)
}

/// The meeting under test: the server's view and the members that run a full client.
struct Bench {
    server_key: ServerSigningKey,
    server: ServerGroupView,
    directory: KeyDirectory,
    announced: Admissions,
    tracked: Vec<Member>,
    untracked: Vec<ParticipantId>,
    next_id: usize,
}

impl Bench {
    fn new_participant(&mut self) -> anyhow::Result<PendingMember> {
        new_participant(&mut self.directory, &mut self.next_id)
    }

    /// The server admits `joiner` and proposes it; every tracked member takes the proposal.
    fn propose_add(&mut self, joiner: &PendingMember, now: Instant) -> anyhow::Result<()> {
        let identity = joiner.identity();
        let admission = Admission {
            participant: identity.participant().clone(),
            account: identity.account_id().cloned(),
        };
        self.announced.record(admission.clone());
        let proposal = self
            .server
            .propose_add(ValidatedKeyPackage::parse(joiner.key_package())?)?;
        for member in &mut self.tracked {
            member.record_admission(admission.clone());
            member.process_handshake(&proposal, &self.directory, now)?;
        }
        Ok(())
    }

    /// Tracked member `committer` commits what is pending; the server accepts; the others
    /// process it. Returns the commit, the committer's time and each processor's time.
    fn commit_round(
        &mut self,
        committer: usize,
        now: Instant,
    ) -> anyhow::Result<(AcceptedCommit, Duration, Duration, Vec<Duration>)> {
        let started = Instant::now();
        let outgoing = self.tracked[committer]
            .commit_pending()?
            .context("nothing to commit")?;
        let building = started.elapsed();
        let started = Instant::now();
        let accepted = self
            .server
            .submit_commit(&outgoing.commit, outgoing.welcome.as_deref())?;
        let server_time = started.elapsed();
        let started = Instant::now();
        self.tracked[committer].commit_accepted(now)?;
        let committer_time = building + started.elapsed();
        let mut processing = Vec::new();
        for (index, member) in self.tracked.iter_mut().enumerate() {
            if index == committer {
                continue;
            }
            let started = Instant::now();
            member.process_handshake(&accepted.commit, &self.directory, now)?;
            processing.push(started.elapsed());
        }
        Ok((accepted, committer_time, server_time, processing))
    }
}

fn measure(members: usize, tracked: usize, removes: usize) -> anyhow::Result<MlsReport> {
    let now = Instant::now();
    let setup_started = Instant::now();
    let server_key = ServerSigningKey::generate(&mut rand::thread_rng());
    let mut directory = KeyDirectory::new();
    let mut next_id = 0;
    let creator = new_participant(&mut directory, &mut next_id)?;
    let mut announced = Admissions::new();
    announced.record(Admission {
        participant: creator.identity().participant().clone(),
        account: creator.identity().account_id().cloned(),
    });
    let (creator, bootstrap) = creator.create_group(b"bench-meeting", &server_key.public(), now)?;
    let server = ServerGroupView::from_bootstrap(
        &bootstrap.group_info,
        &bootstrap.ratchet_tree,
        &server_key,
    )?;
    let mut bench = Bench {
        server_key,
        server,
        directory,
        announced,
        tracked: vec![creator],
        untracked: Vec::new(),
        next_id,
    };

    // Untracked members, BATCH per commit, committed by the creator.
    let untracked = members - tracked;
    while bench.untracked.len() < untracked {
        let batch = BATCH.min(untracked - bench.untracked.len());
        for _ in 0..batch {
            let joiner = bench.new_participant()?;
            bench.propose_add(&joiner, now)?;
            bench
                .untracked
                .push(joiner.identity().participant().clone());
        }
        bench.commit_round(0, now)?;
    }
    let setup_s = setup_started.elapsed().as_secs_f64();

    // Tracked joiners, one per commit.
    let mut join = Vec::new();
    let mut process_add = Vec::new();
    let mut commit_add = Vec::new();
    let mut welcome_bytes = Vec::new();
    let mut add_commit_bytes = Vec::new();
    let mut ratchet_tree_bytes = 0;
    for _ in 1..tracked {
        let joiner = bench.new_participant()?;
        bench.propose_add(&joiner, now)?;
        let (accepted, committer_time, _, processing) = bench.commit_round(0, now)?;
        commit_add.push(committer_time);
        process_add.extend(processing);
        add_commit_bytes.push(accepted.commit.len());
        let delivery = accepted.joiners.context("the add commit has no Welcome")?;
        welcome_bytes.push(delivery.welcome.len());
        ratchet_tree_bytes = delivery.ratchet_tree.len();
        let started = Instant::now();
        let mut member = joiner.join(
            &delivery.welcome,
            &delivery.ratchet_tree,
            &bench.server_key.public(),
            &bench.announced,
            &bench.directory,
            now,
        )?;
        join.push(started.elapsed());
        for admission in announced_list(&bench.announced) {
            member.record_admission(admission);
        }
        bench.tracked.push(member);
    }
    let group_size = bench.server.roster()?.len();
    if group_size != members {
        bail!("the group has {group_size} members, expected {members}");
    }

    // Removes of untracked members, committed by the tracked members in turn.
    let mut commit_remove = Vec::new();
    let mut server_accept = Vec::new();
    let mut process_remove = Vec::new();
    let mut commit_bytes = Vec::new();
    for round in 0..removes {
        let Some(leaving) = bench.untracked.pop() else {
            break;
        };
        let proposal = bench
            .server
            .propose_remove(&leaving)?
            .context("no remove proposal")?;
        for member in &mut bench.tracked {
            member.process_handshake(&proposal, &bench.directory, now)?;
        }
        let committer = round % bench.tracked.len();
        let (accepted, committer_time, server_time, processing) =
            bench.commit_round(committer, now)?;
        commit_remove.push(committer_time);
        server_accept.push(server_time);
        process_remove.extend(processing);
        commit_bytes.push(accepted.commit.len());
    }

    // Every tracked member must agree on the epoch and the safety code.
    let code = bench.tracked[0].safety_code();
    if bench
        .tracked
        .iter()
        .any(|m| m.safety_code() != code || m.epoch() != bench.server.epoch())
    {
        bail!("tracked members disagree on the epoch");
    }

    Ok(MlsReport {
        members,
        tracked,
        setup_s,
        join_ms_p50: percentile_ms(&mut join, 50.0),
        join_ms_p95: percentile_ms(&mut join, 95.0),
        process_add_ms_p50: percentile_ms(&mut process_add, 50.0),
        process_add_ms_p95: percentile_ms(&mut process_add, 95.0),
        process_remove_ms_p50: percentile_ms(&mut process_remove, 50.0),
        process_remove_ms_p95: percentile_ms(&mut process_remove, 95.0),
        commit_remove_ms_p50: percentile_ms(&mut commit_remove, 50.0),
        commit_remove_ms_p95: percentile_ms(&mut commit_remove, 95.0),
        commit_add_ms_p50: percentile_ms(&mut commit_add, 50.0),
        commit_add_ms_p95: percentile_ms(&mut commit_add, 95.0),
        server_accept_remove_ms_p50: percentile_ms(&mut server_accept, 50.0),
        server_accept_remove_ms_p95: percentile_ms(&mut server_accept, 95.0),
        welcome_bytes: percentile(&mut welcome_bytes, 50.0),
        ratchet_tree_bytes,
        commit_bytes: percentile(&mut commit_bytes, 50.0),
        commit_bytes_p95: percentile(&mut commit_bytes, 95.0),
        add_commit_bytes: percentile(&mut add_commit_bytes, 50.0),
        samples: Samples {
            join: join.len(),
            process_add: process_add.len(),
            process_remove: process_remove.len(),
            commit_remove: commit_remove.len(),
        },
    })
}

/// A participant with an account whose key goes into the directory.
fn new_participant(
    directory: &mut KeyDirectory,
    next_id: &mut usize,
) -> anyhow::Result<PendingMember> {
    let name = format!("p{next_id}");
    *next_id += 1;
    let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
    let account = AccountId::new(format!("acct-{name}"))?;
    directory.insert(account.clone(), keys.public());
    let identity = MemberIdentity::account(ParticipantId::new(name)?, account);
    Ok(PendingMember::new(identity, &keys)?)
}

fn announced_list(announced: &Admissions) -> Vec<Admission> {
    announced.iter().cloned().collect()
}

/// Nearest-rank percentile in milliseconds; 0 for no samples.
fn percentile_ms(samples: &mut [Duration], pct: f64) -> f64 {
    samples.sort_unstable();
    nearest_rank(samples.len(), pct)
        .and_then(|rank| samples.get(rank))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Nearest-rank percentile; 0 for no samples.
fn percentile(samples: &mut [usize], pct: f64) -> usize {
    samples.sort_unstable();
    nearest_rank(samples.len(), pct)
        .and_then(|rank| samples.get(rank).copied())
        .unwrap_or(0)
}

fn nearest_rank(len: usize, pct: f64) -> Option<usize> {
    if len == 0 {
        return None;
    }
    // The rank is at most len, which fits an f64 exactly for any sample count used here.
    let rank = ((pct / 100.0) * len as f64).ceil() as usize;
    Some(rank.clamp(1, len) - 1)
}

fn print_summary(report: &MlsReport) {
    println!(
        "MLS group of {} members ({} tracked), setup {:.1} s",
        report.members, report.tracked, report.setup_s
    );
    println!(
        "join p50 {:.1} ms p95 {:.1} ms (target <= 150)",
        report.join_ms_p50, report.join_ms_p95
    );
    println!(
        "process add p50 {:.1} ms p95 {:.1} ms (target <= 15)",
        report.process_add_ms_p50, report.process_add_ms_p95
    );
    println!(
        "process remove p50 {:.1} ms p95 {:.1} ms (target <= 30)",
        report.process_remove_ms_p50, report.process_remove_ms_p95
    );
    println!(
        "commit remove p50 {:.1} ms p95 {:.1} ms (target <= 250)",
        report.commit_remove_ms_p50, report.commit_remove_ms_p95
    );
    println!(
        "server accept remove p50 {:.1} ms; welcome {} B, tree {} B, remove commit {} B (p95 {} B), add commit {} B",
        report.server_accept_remove_ms_p50,
        report.welcome_bytes,
        report.ratchet_tree_bytes,
        report.commit_bytes,
        report.commit_bytes_p95,
        report.add_commit_bytes
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples = vec![5, 1, 4, 2, 3];
        assert_eq!(percentile(&mut samples, 50.0), 3);
        assert_eq!(percentile(&mut samples, 95.0), 5);
        assert_eq!(percentile(&mut [], 50.0), 0);
    }

    #[test]
    fn a_small_group_completes_and_agrees() {
        let report = measure(6, 3, 2).expect("bench runs");
        assert_eq!(report.samples.join, 2);
        assert_eq!(report.samples.commit_remove, 2);
        assert_eq!(report.samples.process_remove, 4);
        assert!(report.welcome_bytes > 0 && report.commit_bytes > 0);
    }
}
