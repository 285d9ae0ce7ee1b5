//! User reports (threat T8: brigading with fake accounts).
//!
//! A report never acts by itself: [`ReportDesk`] only gathers reports into a
//! [`ReviewItem`] per reported account for staff to look at, and nothing here
//! can produce an [`ExecutionOrder`](crate::ExecutionOrder). Reports are
//! rate-limited per reporter and per meeting, weighted by the reporter's
//! account age (a day-old account weighs almost nothing), and reporters whose
//! reports are repeatedly found unfounded are flagged, after which their
//! reports weigh nothing (the EU DSA Art. 23 pattern). Reports hold personal
//! data and stay out of the public ledger.

use std::collections::{BTreeMap, VecDeque};

use proto::ids::{AccountId, MeetingId};

use crate::evidence::EvidenceRecord;

/// The weight of one report from an account at least
/// [`ReportDeskConfig::full_weight_age_secs`] old.
pub const FULL_WEIGHT: u32 = 1000;

/// At most this many reports per item are kept; later ones still count
/// towards the weight.
const MAX_REPORTS_PER_ITEM: usize = 1000;

/// A sliding-window limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Reports allowed in the window.
    pub reports: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

/// The desk's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportDeskConfig {
    /// Per reporting account.
    pub per_reporter: Quota,
    /// Per meeting, across all reporters.
    pub per_meeting: Quota,
    /// Account age at which a report weighs [`FULL_WEIGHT`]; younger
    /// accounts weigh proportionally less.
    pub full_weight_age_secs: u64,
    /// Unfounded reports within the window that flag a reporter.
    pub unfounded_to_flag: u32,
    /// The window for counting unfounded reports.
    pub unfounded_window_secs: u64,
    /// Most reporters and meetings tracked at once (memory bound); beyond it
    /// reports are refused until [`ReportDesk::purge`] frees room.
    pub max_tracked: usize,
}

impl Default for ReportDeskConfig {
    fn default() -> ReportDeskConfig {
        ReportDeskConfig {
            per_reporter: Quota {
                reports: 5,
                window_secs: 24 * 3600,
            },
            per_meeting: Quota {
                reports: 10,
                window_secs: 3600,
            },
            full_weight_age_secs: 30 * 24 * 3600,
            unfounded_to_flag: 2,
            unfounded_window_secs: 90 * 24 * 3600,
            max_tracked: 1_000_000,
        }
    }
}

/// A user's report about another account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserReport {
    /// Who reports (authenticated by the caller).
    pub reporter: AccountId,
    /// When the reporter's account was made, Unix seconds.
    pub reporter_created_at: u64,
    /// Whom they report.
    pub subject: AccountId,
    /// The meeting it happened in, if any.
    pub meeting: Option<MeetingId>,
    /// Evidence they attach, if any.
    pub evidence: Option<EvidenceRecord>,
}

/// A review item's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReviewItemId(pub u64);

/// One report as reviewers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewReport {
    /// Who reported.
    pub reporter: AccountId,
    /// Its weight, 0 to [`FULL_WEIGHT`].
    pub weight: u32,
    /// Whether the reporter was flagged for unfounded reports when reporting.
    pub reporter_flagged: bool,
    /// The meeting named.
    pub meeting: Option<MeetingId>,
    /// The evidence attached.
    pub evidence: Option<EvidenceRecord>,
    /// When, Unix seconds.
    pub at: u64,
}

/// The open case about one account: reports, never an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewItem {
    /// Its id.
    pub id: ReviewItemId,
    /// The reported account.
    pub subject: AccountId,
    /// When the first report came.
    pub opened_at: u64,
    /// The reports (the first [`MAX_REPORTS_PER_ITEM`]).
    pub reports: Vec<ReviewReport>,
    /// Sum of the weights: the review queue's order.
    pub weight: u64,
}

/// What a reporter is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportReceipt {
    /// The review item the report joined.
    pub item: ReviewItemId,
    /// The report's weight.
    pub weight: u32,
}

/// Which limit refused a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportScope {
    /// The reporter's own limit.
    Reporter,
    /// The meeting's limit.
    Meeting,
}

/// Why a report was not taken, or a resolution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportRefusal {
    /// A rate limit is reached.
    #[error("too many reports ({scope:?} limit); try again in {retry_after_secs} s")]
    RateLimited {
        /// Which limit.
        scope: ReportScope,
        /// Seconds until the oldest counted report leaves the window.
        retry_after_secs: u64,
    },
    /// An account cannot report itself.
    #[error("an account cannot report itself")]
    SelfReport,
    /// The reporter already has a report in this account's open item.
    #[error("this account is already reported by you and under review")]
    AlreadyReported,
    /// The desk tracks as many reporters and meetings as it may.
    #[error("the report desk is full; try again later")]
    Busy,
    /// No open review item with this id.
    #[error("no open review item {0:?}")]
    UnknownItem(ReviewItemId),
}

#[derive(Clone, Debug, Default)]
struct Reporter {
    recent: VecDeque<u64>,
    unfounded: VecDeque<u64>,
    flagged: bool,
}

/// User reports, sans-IO.
#[derive(Clone, Debug)]
pub struct ReportDesk {
    config: ReportDeskConfig,
    reporters: BTreeMap<AccountId, Reporter>,
    meetings: BTreeMap<MeetingId, VecDeque<u64>>,
    open: BTreeMap<AccountId, ReviewItem>,
    next_id: u64,
}

impl ReportDesk {
    /// An empty desk.
    pub fn new(config: ReportDeskConfig) -> ReportDesk {
        ReportDesk {
            config,
            reporters: BTreeMap::new(),
            meetings: BTreeMap::new(),
            open: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// Takes a report into the subject's review item.
    pub fn submit(&mut self, report: UserReport, now: u64) -> Result<ReportReceipt, ReportRefusal> {
        if report.reporter == report.subject {
            return Err(ReportRefusal::SelfReport);
        }
        if self
            .open
            .get(&report.subject)
            .is_some_and(|item| item.reports.iter().any(|r| r.reporter == report.reporter))
        {
            return Err(ReportRefusal::AlreadyReported);
        }
        let tracked = self.reporters.len() + self.meetings.len();
        let new_entries = usize::from(!self.reporters.contains_key(&report.reporter))
            + report
                .meeting
                .as_ref()
                .map_or(0, |m| usize::from(!self.meetings.contains_key(m)));
        if tracked + new_entries > self.config.max_tracked
            || (self.open.len() >= self.config.max_tracked
                && !self.open.contains_key(&report.subject))
        {
            return Err(ReportRefusal::Busy);
        }
        let reporter_times = self.reporters.get(&report.reporter).map(|r| &r.recent);
        check_quota(
            reporter_times,
            self.config.per_reporter,
            now,
            ReportScope::Reporter,
        )?;
        if let Some(meeting) = &report.meeting {
            check_quota(
                self.meetings.get(meeting),
                self.config.per_meeting,
                now,
                ReportScope::Meeting,
            )?;
        }

        let reporter = self.reporters.entry(report.reporter.clone()).or_default();
        record(&mut reporter.recent, self.config.per_reporter, now);
        if let Some(meeting) = &report.meeting {
            record(
                self.meetings.entry(meeting.clone()).or_default(),
                self.config.per_meeting,
                now,
            );
        }
        let flagged = reporter.flagged;
        let weight = if flagged {
            0
        } else {
            age_weight(
                now.saturating_sub(report.reporter_created_at),
                self.config.full_weight_age_secs,
            )
        };
        let next_id = &mut self.next_id;
        let item = self.open.entry(report.subject.clone()).or_insert_with(|| {
            let id = ReviewItemId(*next_id);
            *next_id += 1;
            ReviewItem {
                id,
                subject: report.subject.clone(),
                opened_at: now,
                reports: Vec::new(),
                weight: 0,
            }
        });
        item.weight += u64::from(weight);
        if item.reports.len() < MAX_REPORTS_PER_ITEM {
            item.reports.push(ReviewReport {
                reporter: report.reporter,
                weight,
                reporter_flagged: flagged,
                meeting: report.meeting,
                evidence: report.evidence,
                at: now,
            });
        }
        Ok(ReportReceipt {
            item: item.id,
            weight,
        })
    }

    /// The open items, heaviest first (then oldest first).
    pub fn review_queue(&self) -> Vec<&ReviewItem> {
        let mut items: Vec<&ReviewItem> = self.open.values().collect();
        items.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.opened_at.cmp(&b.opened_at)));
        items
    }

    /// Closes an item after review. `founded: false` counts an unfounded
    /// report against each of its reporters; returns those newly flagged.
    /// Acting on a founded item is a separate privileged request.
    pub fn resolve(
        &mut self,
        item: ReviewItemId,
        founded: bool,
        now: u64,
    ) -> Result<Vec<AccountId>, ReportRefusal> {
        let subject = self
            .open
            .values()
            .find(|open| open.id == item)
            .map(|open| open.subject.clone())
            .ok_or(ReportRefusal::UnknownItem(item))?;
        let Some(closed) = self.open.remove(&subject) else {
            return Err(ReportRefusal::UnknownItem(item));
        };
        let mut newly_flagged = Vec::new();
        if founded {
            return Ok(newly_flagged);
        }
        let window_start = now.saturating_sub(self.config.unfounded_window_secs);
        for report in closed.reports {
            let reporter = self.reporters.entry(report.reporter.clone()).or_default();
            reporter.unfounded.push_back(now);
            while reporter
                .unfounded
                .front()
                .is_some_and(|&at| at < window_start)
            {
                reporter.unfounded.pop_front();
            }
            if !reporter.flagged
                && reporter.unfounded.len() >= self.config.unfounded_to_flag as usize
            {
                reporter.flagged = true;
                newly_flagged.push(report.reporter);
            }
        }
        Ok(newly_flagged)
    }

    /// Whether a reporter is flagged for repeated unfounded reports.
    pub fn is_flagged(&self, account: &AccountId) -> bool {
        self.reporters
            .get(account)
            .is_some_and(|reporter| reporter.flagged)
    }

    /// Flagged reporters, for the review view.
    pub fn flagged(&self) -> impl Iterator<Item = &AccountId> {
        self.reporters
            .iter()
            .filter(|(_, r)| r.flagged)
            .map(|(account, _)| account)
    }

    /// Forgets rate-limit history that has left its window, and reporters
    /// with nothing left to remember.
    pub fn purge(&mut self, now: u64) {
        let config = self.config;
        for reporter in self.reporters.values_mut() {
            forget(&mut reporter.recent, config.per_reporter, now);
            let window_start = now.saturating_sub(config.unfounded_window_secs);
            while reporter
                .unfounded
                .front()
                .is_some_and(|&at| at < window_start)
            {
                reporter.unfounded.pop_front();
            }
        }
        self.reporters
            .retain(|_, r| r.flagged || !r.recent.is_empty() || !r.unfounded.is_empty());
        for times in self.meetings.values_mut() {
            forget(times, config.per_meeting, now);
        }
        self.meetings.retain(|_, times| !times.is_empty());
    }
}

fn age_weight(age_secs: u64, full_weight_age_secs: u64) -> u32 {
    if age_secs >= full_weight_age_secs || full_weight_age_secs == 0 {
        return FULL_WEIGHT;
    }
    // age < full_weight_age, so the quotient is below FULL_WEIGHT and fits.
    u32::try_from(u128::from(age_secs) * u128::from(FULL_WEIGHT) / u128::from(full_weight_age_secs))
        .unwrap_or(FULL_WEIGHT)
}

fn check_quota(
    times: Option<&VecDeque<u64>>,
    quota: Quota,
    now: u64,
    scope: ReportScope,
) -> Result<(), ReportRefusal> {
    let window_start = now.saturating_sub(quota.window_secs);
    let Some(times) = times else {
        return if quota.reports == 0 {
            Err(ReportRefusal::RateLimited {
                scope,
                retry_after_secs: quota.window_secs,
            })
        } else {
            Ok(())
        };
    };
    let in_window: Vec<u64> = times
        .iter()
        .copied()
        .filter(|&at| at >= window_start)
        .collect();
    if in_window.len() >= quota.reports as usize {
        let oldest = in_window.first().copied().unwrap_or(now);
        let retry_after_secs = (oldest + quota.window_secs).saturating_sub(now).max(1);
        return Err(ReportRefusal::RateLimited {
            scope,
            retry_after_secs,
        });
    }
    Ok(())
}

fn record(times: &mut VecDeque<u64>, quota: Quota, now: u64) {
    forget(times, quota, now);
    times.push_back(now);
}

fn forget(times: &mut VecDeque<u64>, quota: Quota, now: u64) {
    let window_start = now.saturating_sub(quota.window_secs);
    while times.front().is_some_and(|&at| at < window_start) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u32) -> AccountId {
        format!("{n:0>22}").parse().unwrap()
    }

    fn report(reporter: u32, subject: u32, meeting: Option<&str>) -> UserReport {
        UserReport {
            reporter: account(reporter),
            reporter_created_at: 0,
            subject: account(subject),
            meeting: meeting.map(|m| m.parse().unwrap()),
            evidence: None,
        }
    }

    #[test]
    fn weight_grows_with_account_age() {
        assert_eq!(age_weight(0, 100), 0);
        assert_eq!(age_weight(50, 100), 500);
        assert_eq!(age_weight(100, 100), FULL_WEIGHT);
        assert_eq!(age_weight(u64::MAX, 100), FULL_WEIGHT);
        assert_eq!(age_weight(5, 0), FULL_WEIGHT);
    }

    #[test]
    fn reporter_limit_and_self_and_duplicate_reports() {
        let config = ReportDeskConfig {
            per_reporter: Quota {
                reports: 2,
                window_secs: 100,
            },
            ..ReportDeskConfig::default()
        };
        let mut desk = ReportDesk::new(config);
        assert_eq!(
            desk.submit(report(1, 1, None), 10),
            Err(ReportRefusal::SelfReport)
        );
        desk.submit(report(1, 2, None), 10).unwrap();
        assert_eq!(
            desk.submit(report(1, 2, None), 11),
            Err(ReportRefusal::AlreadyReported)
        );
        desk.submit(report(1, 3, None), 12).unwrap();
        assert_eq!(
            desk.submit(report(1, 4, None), 13),
            Err(ReportRefusal::RateLimited {
                scope: ReportScope::Reporter,
                retry_after_secs: 97
            })
        );
        desk.submit(report(1, 4, None), 111).unwrap();
    }

    #[test]
    fn purge_forgets_old_history() {
        let mut desk = ReportDesk::new(ReportDeskConfig::default());
        desk.submit(report(1, 2, Some("AAAAAAAAAAAAAAAAAAAAAA")), 0)
            .unwrap();
        desk.purge(10 * 24 * 3600);
        assert!(desk.reporters.is_empty());
        assert!(desk.meetings.is_empty());
        assert_eq!(
            desk.review_queue().len(),
            1,
            "open items stay until reviewed"
        );
    }
}
