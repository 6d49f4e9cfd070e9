//! The firing loop and task execution.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use marketprism_discovery::Registry;
use tokio_util::sync::CancellationToken;

use super::{
    store::TaskStore,
    task::{RunRecord, Task},
};
use crate::common::{Result, now_ms};

/// Shared scheduler state.
pub struct Engine {
    /// Tasks, history, leases.
    pub store: Arc<dyn TaskStore>,
    pub(super) registry: Registry,
    pub(super) nats: Option<async_nats::Client>,
    pub(super) http: reqwest::Client,
    /// False after `POST /stop`: nothing fires on schedule (manual runs still work).
    pub running: AtomicBool,
    pub(super) active: Mutex<HashMap<String, (String, CancellationToken)>>,
    /// This instance's id (in run records).
    pub instance: String,
    /// Firings this instance won.
    pub fired: AtomicU64,
    pub(super) lease_ttl: Duration,
    /// `scheduler.min_interval_secs`: the most often a task may fire.
    pub(super) min_interval_secs: u64,
    /// The service credential sent to targets (`service.tokens`, first).
    pub(super) service_token: Option<String>,
}

impl Engine {
    /// A task from API input: validated, and its schedule within this scheduler's limits.
    pub(super) fn accept(
        &self,
        input: super::TaskInput,
        base: Option<super::Task>,
    ) -> Result<super::Task, String> {
        let task = input.apply(base, crate::common::now_ms())?;
        super::check_cron(&task.cron_expression, self.min_interval_secs)?;
        Ok(task)
    }
}

impl Engine {
    /// Ticks every `tick` until `stop`: fires each due (task, time) whose lease it wins.
    pub async fn run(self: Arc<Self>, tick: Duration, stop: CancellationToken) {
        let mut last = now_ms();
        let mut interval = tokio::time::interval(tick);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = interval.tick() => {}
            }
            let now = now_ms();
            if self.running.load(Ordering::Relaxed)
                && let Err(e) = self.fire_due(last, now).await
            {
                tracing::warn!(error = %e, "scheduler tick failed");
            }
            last = now;
        }
    }

    async fn fire_due(self: &Arc<Self>, after: i64, until: i64) -> Result<()> {
        for task in self.store.list().await? {
            if !task.enabled {
                continue;
            }
            for at in task.fire_times(after, until, 16) {
                let key = format!("{}:{at}", task.id);
                if self.store.try_lease(&key, self.lease_ttl).await? {
                    self.fired.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("marketprism_scheduler_fired_total", "task" => task.id.clone())
                        .increment(1);
                    self.spawn(task.clone(), Some(at));
                }
            }
        }
        Ok(())
    }

    /// Starts a run of `task` in the background; returns its run id.
    pub fn spawn(self: &Arc<Self>, task: Task, scheduled_for: Option<i64>) -> String {
        let run_id = format!("run-{:016x}", rand::random::<u64>());
        let token = CancellationToken::new();
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run_id.clone(), (task.id.clone(), token.clone()));
        let me = Arc::clone(self);
        let id = run_id.clone();
        tokio::spawn(async move {
            me.execute(task, scheduled_for, id.clone(), token).await;
            me.active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        });
        run_id
    }

    /// Cancels the active runs of `task_id`; returns how many.
    pub fn cancel(&self, task_id: &str) -> usize {
        let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active
            .values()
            .filter(|(t, _)| t == task_id)
            .map(|(_, token)| token.cancel())
            .count()
    }

    /// Runs in progress.
    pub fn active_runs(&self) -> usize {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    async fn execute(
        &self,
        task: Task,
        scheduled_for: Option<i64>,
        run_id: String,
        token: CancellationToken,
    ) {
        let started = now_ms();
        let mut run = RunRecord {
            run_id,
            task_id: task.id.clone(),
            scheduled_for_ms: scheduled_for,
            trigger: if scheduled_for.is_some() {
                "schedule"
            } else {
                "manual"
            }
            .into(),
            started_at_ms: started,
            finished_at_ms: None,
            duration_ms: None,
            status: "running".into(),
            error: None,
            http_status: None,
            instance: self.instance.clone(),
        };
        if let Err(e) = self.store.put_run(&run).await {
            tracing::warn!(error = %e, "cannot record run start");
        }
        let outcome = tokio::select! {
            () = token.cancelled() => Err(("cancelled", "cancelled by request".to_owned(), None)),
            r = tokio::time::timeout(Duration::from_secs(task.timeout_secs), self.call(&task)) => match r {
                Err(_) => Err(("timeout", format!("no answer within {} s", task.timeout_secs), None)),
                Ok(Ok(code)) => Ok(code),
                Ok(Err((msg, code))) => Err(("failed", msg, code)),
            },
        };
        let finished = now_ms();
        run.finished_at_ms = Some(finished);
        run.duration_ms = Some(finished - started);
        match outcome {
            Ok(code) => {
                run.status = "success".into();
                run.http_status = code;
            }
            Err((status, error, code)) => {
                tracing::warn!(task = %task.id, status, %error, "task run did not succeed");
                run.status = status.into();
                run.error = Some(error);
                run.http_status = code;
            }
        }
        metrics::counter!("marketprism_scheduler_runs_total", "task" => task.id.clone(), "status" => run.status.clone())
            .increment(1);
        if let Err(e) = self.store.put_run(&run).await {
            tracing::warn!(error = %e, "cannot record run end");
        }
    }

    async fn call(&self, task: &Task) -> std::result::Result<Option<u16>, (String, Option<u16>)> {
        if let Some(subject) = &task.nats_subject {
            let Some(nats) = &self.nats else {
                return Err(("no NATS configured for a nats_subject task".into(), None));
            };
            let body = serde_json::to_vec(&task.payload.clone().unwrap_or_default())
                .map_err(|e| (e.to_string(), None))?;
            nats.publish(subject.clone(), body.into())
                .await
                .map_err(|e| (e.to_string(), None))?;
            nats.flush().await.map_err(|e| (e.to_string(), None))?;
            return Ok(None);
        }
        let (Some(service), Some(path)) = (&task.target_service, &task.target_endpoint) else {
            return Err(("task has no target".into(), None));
        };
        let base = self
            .registry
            .get_service_url(service)
            .await
            .map_err(|e| (format!("discovering {service}: {e}"), None))?;
        let method = reqwest::Method::from_bytes(task.method.as_bytes())
            .map_err(|e| (e.to_string(), None))?;
        let mut req = self.http.request(method, format!("{base}{path}"));
        if let Some(token) = &self.service_token {
            req = req.header(
                marketprism_core::runtime::SERVICE_TOKEN_HEADER,
                token.as_str(),
            );
        }
        if let Some(p) = &task.payload {
            req = req.json(p);
        }
        // reqwest's error text names the URL, whose path or query may hold a secret.
        let resp = req
            .send()
            .await
            .map_err(|e| (e.without_url().to_string(), None))?;
        let code = resp.status().as_u16();
        if resp.status().is_success() {
            Ok(Some(code))
        } else {
            let body = resp.text().await.unwrap_or_default();
            Err((
                format!(
                    "HTTP {code}: {}",
                    body.chars().take(300).collect::<String>()
                ),
                Some(code),
            ))
        }
    }
}
