//! Diff workers: actors that pull association jobs from the shared durable `diff-workers`
//! consumer, fetch the revision and its parent from the wiki, measure the edit and store one
//! row — then, and only then, ack (invariant 5). Transient failures are naked with backoff;
//! permanent ones, and jobs delivered `EDITS_MAX_DELIVER` times, become a dead letter and are
//! terminated — only once the dead letter is written.
//!
//! One puller (a plain task) takes a job from the consumer's stream only when a worker is idle
//! and hands it to that [`DiffWorker`] actor as a message; each actor works on one job at a time,
//! so the pool size bounds the work in flight. The diff itself runs on the blocking pool: a
//! 2 MB page must not stall an arbiter thread.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use campaign_events_actors::domain::{EventFacts, EventId, RevisionId, UserId};
use campaign_events_actors::SystemThread;
use chrono::Utc;
use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::association::db::{self as contributions, Contribution, Stored};
use crate::association::jobs::{Job, ValidJob};
use crate::association::stats;
use crate::association::wiki_api::{same_user, FetchError, RevisionApi};
use crate::events::db as events;
use crate::infra::db::DbError;
use crate::infra::nats::Names;
use crate::registration::db as registration;

/// What the workers need.
pub struct WorkerDeps {
    pub pool: Pool,
    pub jetstream: jetstream::Context,
    pub names: Names,
    pub api: Arc<RevisionApi>,
    /// The first retry's delay; each further retry doubles it, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub metrics: Arc<crate::infra::metrics::Metrics>,
    /// Event facts read recently: every job of an event needs its window, and a query per job
    /// would cost more than the rest of the bookkeeping.
    pub events: std::sync::Mutex<HashMap<EventId, (Instant, Arc<EventFacts>)>>,
}

/// How long a worker trusts event facts it read. An event's window edited meanwhile applies
/// to jobs this much later at the most.
const EVENT_FACTS_TTL: Duration = Duration::from_secs(5);

impl WorkerDeps {
    async fn event(&self, id: EventId) -> Result<Option<Arc<EventFacts>>, DbError> {
        if let Some((at, f)) = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            if at.elapsed() < EVENT_FACTS_TTL {
                return Ok(Some(f.clone()));
            }
        }
        let Some(record) = events::get(&self.pool, id).await? else {
            return Ok(None);
        };
        let facts = Arc::new(record.facts);
        let mut cache = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id, (Instant::now(), facts.clone()));
        Ok(Some(facts))
    }
}

/// The pool: its own actix system on its own threads, with the worker actors and their one
/// puller. Dropping it stops them; a job in flight is not acked and will be delivered again.
pub struct WorkerPool {
    _system: SystemThread,
}

impl WorkerPool {
    /// Starts `workers` diff worker actors spread over `arbiters` threads, and the puller that
    /// feeds them.
    pub fn start(workers: usize, arbiters: usize, deps: Arc<WorkerDeps>) -> std::io::Result<Self> {
        let (system, ()) = SystemThread::start("ce-workers", arbiters, move |arbiters| {
            actix::spawn(Puller::new(deps, arbiters, workers.max(1)).run());
        })?;
        tracing::info!(workers, "diff workers started");
        Ok(Self { _system: system })
    }

    /// Stops the workers (as dropping the pool does).
    pub fn stop(self) {
        drop(self);
    }
}

/// One diff worker: an actor that receives jobs as [`Work`] messages from the puller and
/// handles them one at a time, each to its end — the row or dead letter committed, then the
/// ack (invariant 5). Only the puller sends it work, and only when it is idle.
struct DiffWorker {
    id: usize,
    deps: Arc<WorkerDeps>,
}

/// A worker as the puller knows it: its number (which arbiter it runs on) and its address.
struct Worker {
    id: usize,
    addr: Addr<DiffWorker>,
}

impl Actor for DiffWorker {
    type Context = Context<Self>;
}

/// A job for a worker: the JetStream message, which the worker acks (or naks, or terminates)
/// itself once the job is handled. The reply, `()`, tells the puller the worker is idle again.
#[derive(Message)]
#[rtype(result = "()")]
struct Work(jetstream::Message);

impl Handler<Work> for DiffWorker {
    /// Atomic: the actor takes no other message until this job is acked.
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, Work(msg): Work, _: &mut Self::Context) -> Self::Result {
        let deps = self.deps.clone();
        let id = self.id;
        AtomicResponse::new(Box::pin(
            async move {
                tracing::trace!(worker = id, "job taken");
                work(&deps, &msg).await
            }
            .into_actor(self),
        ))
    }
}

/// Handles one job and acks it as its outcome says.
async fn work(deps: &WorkerDeps, msg: &jetstream::Message) {
    let started = Instant::now();
    let ack = handle(deps, msg, crate::infra::nats::EDITS_MAX_DELIVER).await;
    // Every attempt is timed, whatever its end: a worker whose jobs all fail (a wiki out of
    // reach) must not look idle.
    deps.metrics
        .job_duration
        .observe(started.elapsed().as_secs_f64());
    let outcome = match ack {
        AckKind::Ack => "stored",
        AckKind::Nak(_) => "retried",
        _ => "dead",
    };
    deps.metrics.jobs.with_label_values(&[outcome]).inc();
    if let Err(e) = msg.ack_with(ack).await {
        // Not acked: JetStream delivers it again after ack_wait, and storing is idempotent.
        tracing::warn!(error = %e, "could not acknowledge a job");
    }
}

/// How long one pull request waits for jobs before it is made anew, and how often the server
/// must show it is alive meanwhile (a silent connection is noticed within this).
const PULL_EXPIRES: Duration = Duration::from_secs(10);
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);

/// The one puller of the shared durable `diff-workers` consumer: a plain task (not an actor:
/// it only loops), which takes a job from the consumer's stream only when a worker is idle and
/// hands it to that worker as a [`Work`] message. The stream asks the server for at most as
/// many jobs as there are workers, so a job waits in this process at most about one job's time.
struct Puller {
    deps: Arc<WorkerDeps>,
    /// Where the workers run (worker `id` on `arbiters[id % len]`).
    arbiters: Vec<ArbiterHandle>,
    /// How many workers there are: the most jobs asked of the server at once.
    workers: usize,
    /// Idle workers come back here when they finish a job.
    idle_tx: mpsc::UnboundedSender<Worker>,
    idle_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Worker>>,
}

impl Puller {
    /// Starts `workers` worker actors, all idle.
    fn new(deps: Arc<WorkerDeps>, arbiters: Vec<ArbiterHandle>, workers: usize) -> Self {
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        let puller = Self {
            deps,
            arbiters,
            workers,
            idle_tx,
            idle_rx: tokio::sync::Mutex::new(idle_rx),
        };
        for id in 0..workers {
            let _ = puller.idle_tx.send(puller.start_worker(id));
        }
        puller
    }

    fn start_worker(&self, id: usize) -> Worker {
        let deps = self.deps.clone();
        let arbiter = &self.arbiters[id % self.arbiters.len().max(1)];
        Worker {
            id,
            addr: DiffWorker::start_in_arbiter(arbiter, move |_| DiffWorker { id, deps }),
        }
    }

    async fn run(self) {
        crate::infra::retry::keep_running(
            "the diff workers' job stream",
            Duration::from_secs(1),
            || self.pull(),
        )
        .await
    }

    /// Binds the consumer and hands out jobs until the stream fails.
    async fn pull(&self) -> anyhow::Result<()> {
        let consumer: PullConsumer = self
            .deps
            .jetstream
            .get_consumer_from_stream(
                self.deps.names.diff_workers_consumer(),
                self.deps.names.edits_stream(),
            )
            .await
            .context("cannot bind the diff-workers consumer")?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.workers)
            .heartbeat(PULL_HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await?;
        let mut idle = self.idle_rx.lock().await;
        loop {
            // A job is taken only for an idle worker. (The channel cannot close: this puller
            // holds a sender.)
            let Some(mut worker) = idle.recv().await else {
                return Ok(());
            };
            let msg = match messages.next().await {
                Some(Ok(msg)) => msg,
                other => {
                    let _ = self.idle_tx.send(worker);
                    return match other {
                        Some(Err(e)) => Err(anyhow::Error::new(e).context("job stream")),
                        _ => Ok(()),
                    };
                }
            };
            if !worker.addr.connected() {
                // The actor stopped (a panic in its job): a new one takes its place, so that
                // no job is handed to an address that would drop it.
                tracing::error!(
                    worker = worker.id,
                    "a diff worker stopped; starting a new one"
                );
                worker = self.start_worker(worker.id);
            }
            let idle = self.idle_tx.clone();
            actix::spawn(async move {
                // Resolves once the worker has handled and acked the job. If the worker stopped
                // in the middle, the job, not acked, is delivered again after ack_wait, and the
                // worker is replaced before its next job.
                if let Err(e) = worker.addr.send(Work(msg)).await {
                    tracing::error!(worker = worker.id, error = %e, "a diff worker stopped in a job");
                }
                let _ = idle.send(worker);
            });
        }
    }
}

/// How a job failed.
enum Failure {
    /// Worth another try, after at least the given wait when the wiki asked for one.
    Transient(String, Option<Duration>),
    Permanent(&'static str, String),
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Transient(d) => Failure::Transient(d, None),
            FetchError::Throttled {
                detail,
                retry_after,
            } => Failure::Transient(detail, Some(retry_after)),
            FetchError::Permanent { reason, detail } => Failure::Permanent(reason, detail),
        }
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Transient(e.to_string(), None)
    }
}

async fn handle(deps: &WorkerDeps, msg: &jetstream::Message, max_deliver: i64) -> AckKind {
    let (delivered, seq) = msg
        .info()
        .map(|i| (i.delivered, i.stream_sequence))
        .unwrap_or((1, 0));
    let job = match rmp_serde::from_slice::<Job>(&msg.payload)
        .map_err(|e| format!("malformed job: {e}"))
        .and_then(Job::validate)
    {
        Ok(job) => job,
        Err(reason) => {
            // Not an association anyone was promised (the gateway only publishes valid jobs):
            // recorded like a rejected command, without an edit key to file it under.
            tracing::error!(%reason, seq, "malformed job terminated");
            return match crate::infra::db::record_rejected(
                &deps.pool,
                &msg.subject,
                seq,
                &reason,
                &msg.payload,
            )
            .await
            {
                Ok(()) => AckKind::Term,
                // Kept until the record can be written.
                Err(crate::infra::db::DbError::Unavailable(_)) => {
                    AckKind::Nak(Some(deps.retry_max))
                }
                // The database refuses the record itself: retrying cannot help. The log is
                // the record of last resort.
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        seq,
                        payload = %String::from_utf8_lossy(&msg.payload).escape_debug(),
                        "malformed job could not be recorded; terminated"
                    );
                    AckKind::Term
                }
            };
        }
    };
    let started = std::time::Instant::now();
    let failure = match measure(deps, &job).await {
        Ok(()) => {
            tracing::info!(job = %job.job.key(), event_id = %job.event, millis = started.elapsed().as_millis() as u64, "contribution stored");
            return AckKind::Ack;
        }
        Err(f) => f,
    };
    let (reason, detail) = match failure {
        Failure::Transient(detail, at_least) if max_deliver <= 0 || delivered < max_deliver => {
            // The wiki's own `Retry-After`, when it sent one, is the least wait.
            let delay = backoff(deps, delivered).max(at_least.unwrap_or_default());
            tracing::warn!(job = %job.job.key(), delivered, ?delay, %detail, "job will be retried");
            return AckKind::Nak(Some(delay));
        }
        Failure::Transient(detail, _) => {
            ("gave-up", format!("after {delivered} deliveries: {detail}"))
        }
        Failure::Permanent(reason, detail) => (reason, detail),
    };
    match contributions::dead_letter(
        &deps.pool,
        job.wiki.as_str(),
        job.revision.get(),
        job.event.get(),
        job.user.get(),
        reason,
        &detail,
        delivered as i32,
        &msg.payload,
    )
    .await
    {
        Ok(true) => {
            tracing::warn!(job = %job.job.key(), reason, %detail, "job dead-lettered");
            AckKind::Term
        }
        // Another delivery of this job (an admin's retry sent twice, a redelivery after a lost
        // ack) stored its row meanwhile: the job ended as that row.
        Ok(false) => {
            tracing::info!(job = %job.job.key(), reason, "job failed, but its row exists; done");
            AckKind::Ack
        }
        // Without the record the job would vanish: keep it.
        Err(e) => {
            tracing::warn!(error = %e, "could not record a dead letter; retrying the job");
            AckKind::Nak(Some(backoff(deps, delivered)))
        }
    }
}

fn backoff(deps: &WorkerDeps, delivered: i64) -> Duration {
    crate::infra::retry::backoff(deps.retry_base, deps.retry_max, delivered)
}

/// The author of an edit someone else associated: allowed only to an organizer of the event
/// (as the extension allows), and only for an edit by a participant of it — the author's
/// account id comes from the wiki, as signing in takes it.
async fn author_for_organizer(
    deps: &WorkerDeps,
    job: &ValidJob,
    author: &str,
) -> Result<UserId, Failure> {
    if !events::is_organizer(&deps.pool, job.event, job.user).await? {
        return Err(Failure::Permanent(
            "not-owner",
            format!("revision by {author:?}, association by {:?}", job.user_name),
        ));
    }
    let not_participant = || {
        Failure::Permanent(
            "author-not-participant",
            format!(
                "revision by {author:?}, who is not a participant of event {}; associated by organizer {:?}",
                job.event, job.user_name
            ),
        )
    };
    let Some(id) = deps.api.account_id(&job.wiki, author).await? else {
        return Err(not_participant());
    };
    let id = UserId::new(id).map_err(|_| not_participant())?;
    if registration::is_participant(&deps.pool, job.event, id).await? {
        Ok(id)
    } else {
        Err(not_participant())
    }
}

/// Fetch, verify, measure, store.
async fn measure(deps: &WorkerDeps, job: &ValidJob) -> Result<(), Failure> {
    let event = match deps.event(job.event).await? {
        None => {
            return Err(Failure::Permanent(
                "event-not-found",
                format!("event {}", job.event),
            ))
        }
        Some(f) if f.deleted => {
            return Err(Failure::Permanent(
                "event-deleted",
                format!("event {}", job.event),
            ))
        }
        Some(f) => f,
    };
    let rev = deps.api.revision(&job.wiki, job.revision).await?;
    let Some(user) = rev.user.as_deref() else {
        return Err(Failure::Permanent(
            "not-owner",
            "the revision's user is hidden".into(),
        ));
    };
    let (author, author_name) = if same_user(user, &job.user_name) {
        // The gateway let an organizer through without being a participant: their own edit
        // counts only if they take part too, as anyone's.
        if !registration::is_participant(&deps.pool, job.event, job.user).await? {
            return Err(Failure::Permanent(
                "not-participant",
                format!(
                    "{:?} is not a participant of event {}",
                    job.user_name, job.event
                ),
            ));
        }
        (job.user, job.user_name.clone())
    } else {
        (
            author_for_organizer(deps, job, user).await?,
            user.to_owned(),
        )
    };
    if !event.window.is_ongoing_at(rev.timestamp) {
        return Err(Failure::Permanent(
            "outside-event-window",
            format!(
                "revision at {}, event from {} to {}",
                rev.timestamp,
                event.window.start(),
                event.window.end()
            ),
        ));
    }
    let Some(new_text) = rev.content.clone() else {
        return Err(Failure::Permanent(
            "content-hidden",
            "the revision's text is hidden".into(),
        ));
    };
    let old_text = if rev.parentid == 0 {
        String::new()
    } else {
        let parent = RevisionId::new(rev.parentid)
            .map_err(|e| Failure::Permanent("api-error", format!("parentid {e}")))?;
        match deps.api.revision(&job.wiki, parent).await {
            Ok(p) => p.content.ok_or_else(|| {
                Failure::Permanent(
                    "parent-hidden",
                    "the parent revision's text is hidden".into(),
                )
            })?,
            // A deleted parent leaves nothing to diff against.
            Err(FetchError::Permanent {
                reason: "revision-missing",
                detail,
            }) => return Err(Failure::Permanent("parent-missing", detail)),
            Err(e) => return Err(e.into()),
        }
    };
    let site = deps.api.siteinfo(&job.wiki).await?;
    let page = stats::Page::new(i64::from(rev.ns), rev.title.clone());
    let measured =
        tokio::task::spawn_blocking(move || stats::compute(&old_text, &new_text, &page, &site))
            .await
            .map_err(|e| Failure::Transient(format!("the diff task failed: {e}"), None))?;
    let row = Contribution {
        event_id: job.event.get(),
        user_id: author.get(),
        user_name: author_name,
        wiki_id: job.wiki.to_string(),
        revision_id: job.revision.get(),
        parent_revision_id: (rev.parentid != 0).then_some(rev.parentid),
        page_id: rev.pageid,
        page_title: rev.title.clone(),
        namespace: rev.ns,
        stats: measured,
        is_new_article: rev.parentid == 0,
        rev_timestamp: rev.timestamp,
        associated_at: chrono::DateTime::from_timestamp_millis(job.job.requested_at)
            .unwrap_or_else(Utc::now),
    };
    match contributions::store(&deps.pool, &row, job.user).await? {
        Stored::Done => {
            crate::cache::changes::announce_contributions(
                &deps.jetstream,
                &deps.names,
                job.event,
                Some((job.wiki.as_str(), job.revision.get())),
            )
            .await;
            Ok(())
        }
        Stored::OtherEvent(other) => Err(Failure::Permanent(
            "already-associated",
            format!("the edit is already associated with event {other}"),
        )),
    }
}
