//! The exchange streams of the instruments this collector carries.
//!
//! A [`MarketStream`] has a fixed subscription, so the instruments are carried by stream
//! *groups*: each group is one stream over a set of instruments, read by its own task into
//! the collector's publish channel. With static sharding there is one group for life. With
//! leases ([`assigned`]) the set changes: newly acquired instruments get a new group (whose
//! books resync from a snapshot, as every new subscription's do), and a group holding a
//! released instrument is replaced by one without it. Replacement is make-before-break: the
//! old group stops only once its replacement serves and `release_grace_ms` has passed, and a
//! released instrument is kept for that grace so that its new owner is serving first. The
//! overlaps produce copies of events, which the event identity deduplicates.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt};
use marketprism_core::{
    backoff::Backoff,
    model::{ExchangeId, MarketEvent, MarketType, Status, StatusKind, Symbol, now_ns},
};
use marketprism_discovery::Backend;
use marketprism_exchanges::fetch_instruments;
use serde::Serialize;
use tokio::{sync::mpsc, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{
    CollectorConfig, Resolved, Stats,
    assignment::{self, Takeover},
    build_plan, membership, static_plan,
};

/// Reconnect delays when a stream cannot start.
const START_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
/// Longest a replaced group waits for its replacement to serve before stopping anyway.
const REPLACE_LIMIT: Duration = Duration::from_secs(30);

/// What every group task shares.
#[derive(Clone)]
pub(super) struct Ctx {
    pub(super) config: Arc<CollectorConfig>,
    pub(super) venues: Resolved,
    pub(super) tx: mpsc::Sender<Vec<MarketEvent>>,
    pub(super) stats: Stats,
}

/// One instrument this collector may carry.
#[derive(Debug, Clone)]
struct Candidate {
    entry: usize,
    exchange: ExchangeId,
    market: MarketType,
    symbol: Symbol,
}

/// The assignment as `/api/v1/collector/status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssignmentView {
    /// `static` (shard) or `leases`.
    pub mode: &'static str,
    /// This collector's member id (leases).
    pub member: Option<String>,
    /// Group name (leases).
    pub group: Option<String>,
    /// Collectors per instrument.
    pub redundancy: u32,
    /// Live members of the group, this one included.
    pub members: Vec<String>,
    /// `venue:symbol` of every instrument carried now.
    pub owned: Vec<String>,
    /// Instruments in the configuration (before assignment).
    pub candidates: usize,
    /// Running stream groups.
    pub streams: usize,
    /// Instruments taken over from a member that died.
    pub takeovers_total: u64,
}

/// Shared view.
pub type SharedView = Arc<Mutex<AssignmentView>>;

fn update(view: &SharedView, f: impl FnOnce(&mut AssignmentView)) {
    f(&mut view.lock().unwrap_or_else(PoisonError::into_inner));
}

struct Group {
    keys: BTreeSet<String>,
    cancel: CancellationToken,
    serving: watch::Receiver<bool>,
    handle: JoinHandle<()>,
}

/// What a group subscribes.
enum Plan {
    /// The static shard of the configuration (resolved at each start attempt).
    Static,
    /// Exchange entry → symbols.
    Fixed(BTreeMap<usize, Vec<String>>),
}

fn spawn(ctx: &Ctx, plan: Plan, keys: BTreeSet<String>, intro: Vec<MarketEvent>) -> Group {
    let cancel = CancellationToken::new();
    let (serving_tx, serving) = watch::channel(false);
    let handle = tokio::spawn(run_group(
        ctx.clone(),
        plan,
        intro,
        cancel.clone(),
        serving_tx,
    ));
    Group {
        keys,
        cancel,
        serving,
        handle,
    }
}

/// Static sharding: one group for the collector's life.
pub(super) async fn fixed(ctx: Ctx, stop: &CancellationToken) {
    let g = spawn(&ctx, Plan::Static, BTreeSet::new(), Vec::new());
    drop(ctx);
    stop.cancelled().await;
    g.cancel.cancel();
    let _ = g.handle.await;
}

/// Reads one group's stream into the publish channel until `cancel`, then drains it.
async fn run_group(
    ctx: Ctx,
    plan: Plan,
    intro: Vec<MarketEvent>,
    cancel: CancellationToken,
    serving: watch::Sender<bool>,
) {
    let Ctx {
        config,
        venues,
        tx,
        stats,
    } = ctx;
    let mut retries = START_BACKOFF.retries();
    let mut stream = loop {
        stats.set_state("starting", None);
        let built = match &plan {
            Plan::Static => match static_plan(&config, &venues).await {
                Ok(p) => build_plan(&config, &venues, &p).await,
                Err(e) => Err(e),
            },
            Plan::Fixed(p) => build_plan(&config, &venues, p).await,
        };
        match built {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the exchange streams; retrying");
                stats.set_state("retrying", Some(e));
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = retries.wait() => {}
                }
            }
        }
    };
    stats.set_state("running", None);
    let mut intro = intro;
    // The takeover statuses mark when data resumes: stamp them now the stream is up.
    let now = now_ns();
    for e in &mut intro {
        if let MarketEvent::Status(s) = e {
            s.exchange_ts = now;
            s.local_ts = now;
        }
    }
    if !intro.is_empty() {
        stats.observe_all(&intro);
        if tx.send(intro).await.is_err() {
            return;
        }
    }
    let max = config.batch_size.max(1);
    let mut rate = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            event = stream.next() => match event {
                Some(event) => {
                    let mut chunk = Vec::with_capacity(max.min(64));
                    chunk.push(event);
                    // Take what is already waiting, never wait for more.
                    let mut ended = false;
                    while chunk.len() < max {
                        match stream.next().now_or_never() {
                            Some(Some(event)) => chunk.push(event),
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    stats.observe_all(&chunk);
                    // Waits while the driver is busy: the stream is not read meanwhile.
                    if tx.send(chunk).await.is_err() || ended {
                        break;
                    }
                    serving.send_replace(true);
                }
                None => break,
            },
            _ = rate.tick() => stats.tick(),
        }
    }
    // Drain: stop the connections, forward what they already delivered.
    stream.shutdown();
    let mut rest = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), stream.next()).await
    {
        stats.observe_all(std::slice::from_ref(&event));
        rest.push(event);
    }
    if !rest.is_empty() {
        let _ = tx.send(rest).await;
    }
}

/// Every configured instrument, keyed `venue:symbol` (normalized), resolved through each
/// venue's instrument list.
async fn candidates(
    config: &CollectorConfig,
    venues: &Resolved,
) -> Result<BTreeMap<String, Candidate>, String> {
    let mut out = BTreeMap::new();
    for (entry, (ex, venue)) in config.exchanges.iter().zip(venues).enumerate() {
        let map = fetch_instruments(Arc::clone(venue), ex.rest_url.as_deref())
            .await
            .map_err(|e| format!("{}: listing instruments: {e}", venue.name()))?;
        let all = ex.symbols.iter().any(|s| s == "all" || s == "*");
        let markets: BTreeSet<MarketType> = ex.markets.iter().copied().collect();
        let chosen: Vec<_> = if all {
            map.iter()
                .filter(|i| markets.is_empty() || markets.contains(&i.market))
                .cloned()
                .collect()
        } else {
            ex.symbols
                .iter()
                .filter_map(|s| {
                    let found = map.by_symbol(s).or_else(|| map.by_native(s)).cloned();
                    if found.is_none() {
                        tracing::warn!(venue = %venue.name(), symbol = %s, "not listed by the venue; skipped");
                    }
                    found
                })
                .collect()
        };
        for i in chosen {
            out.insert(
                format!("{}:{}", venue.name(), i.symbol),
                Candidate {
                    entry,
                    exchange: i.exchange,
                    market: i.market,
                    symbol: i.symbol.clone(),
                },
            );
        }
    }
    Ok(out)
}

fn plan_of(keys: &BTreeSet<String>, all: &BTreeMap<String, Candidate>) -> Plan {
    let mut plan: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for c in keys.iter().filter_map(|k| all.get(k)) {
        plan.entry(c.entry)
            .or_default()
            .push(c.symbol.as_str().to_owned());
    }
    Plan::Fixed(plan)
}

/// Dynamic assignment: joins the group in `backend` and carries the instruments the
/// rendezvous assignment gives this collector, following membership changes until `stop`.
pub(super) async fn assigned(
    ctx: Ctx,
    backend: Arc<dyn Backend>,
    addr: (String, u16),
    view: SharedView,
    stop: &CancellationToken,
) {
    let a = ctx.config.assignment.clone();
    let redundancy = a.redundancy as usize;
    let grace = Duration::from_millis(a.release_grace_ms);
    let mut retries = START_BACKOFF.retries();
    let all = loop {
        match candidates(&ctx.config, &ctx.venues).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the instruments to assign; retrying");
                ctx.stats.set_state("retrying", Some(e));
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = retries.wait() => {}
                }
            }
        }
    };
    let keys: BTreeSet<String> = all.keys().cloned().collect();
    let me = format!("c{}-{:08x}", addr.1, rand::random::<u32>());
    update(&view, |v| {
        v.mode = "leases";
        v.member = Some(me.clone());
        v.group = Some(a.group.clone());
        v.redundancy = a.redundancy;
        v.candidates = keys.len();
    });
    let (members_tx, mut members) = watch::channel(membership::Members::default());
    let lease_stop = CancellationToken::new();
    let lease = tokio::spawn(membership::run(
        backend,
        a.clone(),
        me.clone(),
        addr,
        members_tx,
        {
            let stats = ctx.stats.clone();
            move || stats.publish_failing_for()
        },
        lease_stop.clone(),
    ));
    // Start from a list that shows this member, so the others see it too (bounded: with an
    // unreachable backend it carries what it would alone, better than nothing).
    let joined = tokio::time::timeout(
        Duration::from_secs(a.lease_ttl_secs * 2),
        members.wait_for(|m| m.ids.contains(&me)),
    );
    tokio::select! {
        () = stop.cancelled() => {}
        _ = joined => {}
    }

    let mut before: BTreeSet<String> = BTreeSet::new();
    let mut have: BTreeSet<String> = BTreeSet::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut retiring: Vec<(Group, Option<watch::Receiver<bool>>, Instant)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut changed = true;
    while !stop.is_cancelled() {
        if changed {
            let m = members.borrow_and_update().clone();
            let mut now = m.ids.clone();
            now.insert(me.clone());
            let want = assignment::owned(&keys, &now, &me, redundancy);
            let acquired: BTreeSet<String> = want.difference(&have).cloned().collect();
            let released: BTreeSet<String> = have.difference(&want).cloned().collect();
            let taken =
                assignment::takeovers(&acquired, &before, &now, &me, redundancy, &m.last_seen_ms);
            if !acquired.is_empty() || !released.is_empty() {
                tracing::info!(
                    members = now.len(),
                    acquired = acquired.len(),
                    released = released.len(),
                    takeovers = taken.len(),
                    owned = want.len(),
                    "assignment changed"
                );
            }
            for (key, t) in &taken {
                tracing::warn!(instrument = %key, from = %t.from, dark_since_ms = t.dark_since_ms, "taking over");
            }
            // Groups holding a released instrument: replace by one without it.
            let (hit, kept): (Vec<Group>, Vec<Group>) = std::mem::take(&mut groups)
                .into_iter()
                .partition(|g| !g.keys.is_disjoint(&released));
            groups = kept;
            let released_at = Instant::now();
            for g in hit {
                let keep: BTreeSet<String> = g.keys.difference(&released).cloned().collect();
                let waiter = if keep.is_empty() {
                    None
                } else {
                    let n = spawn(&ctx, plan_of(&keep, &all), keep, Vec::new());
                    let w = n.serving.clone();
                    groups.push(n);
                    Some(w)
                };
                retiring.push((g, waiter, released_at));
            }
            if !acquired.is_empty() {
                let intro = takeover_events(&taken, &all);
                groups.push(spawn(&ctx, plan_of(&acquired, &all), acquired, intro));
            }
            metrics::gauge!("marketprism_collector_assignment_members").set(now.len() as f64);
            metrics::gauge!("marketprism_collector_owned_instruments").set(want.len() as f64);
            metrics::counter!("marketprism_collector_takeovers_total")
                .increment(taken.len() as u64);
            update(&view, |v| {
                v.members = now.iter().cloned().collect();
                v.owned = want.iter().cloned().collect();
                v.streams = groups.len();
                v.takeovers_total += taken.len() as u64;
            });
            before = now;
            have = want;
            changed = false;
        }
        // Stop replaced groups once their successor serves (or the limit) and the grace passed.
        retiring.retain(|(g, waiter, since)| {
            let ready =
                waiter.as_ref().is_none_or(|w| *w.borrow()) || since.elapsed() > REPLACE_LIMIT;
            if ready && since.elapsed() >= grace {
                g.cancel.cancel();
            }
            !g.handle.is_finished()
        });
        tokio::select! {
            () = stop.cancelled() => {}
            r = members.changed() => match r {
                Ok(()) => changed = true,
                Err(_) => break,
            },
            _ = tick.tick() => {}
        }
    }
    // Leave the group first, so that survivors take over at once, then drain every stream.
    lease_stop.cancel();
    let _ = lease.await;
    for g in groups.iter().chain(retiring.iter().map(|r| &r.0)) {
        g.cancel.cancel();
    }
    for g in groups.into_iter().chain(retiring.into_iter().map(|r| r.0)) {
        let _ = g.handle.await;
    }
}

/// The `takeover` status of each instrument taken over, stamped now.
fn takeover_events(
    taken: &BTreeMap<String, Takeover>,
    all: &BTreeMap<String, Candidate>,
) -> Vec<MarketEvent> {
    let now = now_ns();
    taken
        .iter()
        .filter_map(|(key, t)| {
            let c = all.get(key)?;
            Some(MarketEvent::Status(Status::new(
                c.exchange,
                c.market,
                Some(c.symbol.clone()),
                now,
                StatusKind::Takeover {
                    from: t.from.clone(),
                    dark_since_ns: t.dark_since_ms.saturating_mul(1_000_000),
                },
            )))
        })
        .collect()
}
