//! Redis backend: `redis://[:password@]host:port[/db]?namespace=ns&keyspace_events=auto`.
//!
//! Layout (all under `mp:discovery:<namespace>:`):
//! - `i:<service>:<id>` — the instance JSON, with a `PX` expiry of the registration's TTL;
//! - `z:<service>` — a sorted set of ids scored by expiry time (server `TIME`), so listing a
//!   service never scans the keyspace;
//! - `services` — a sorted set of service names scored by their latest expiry;
//! - channel `events:<service>` — a JSON message after every register/update/deregister.
//!
//! Every write is one Lua script (atomic, server clock). Expiries are noticed either through
//! Redis **keyspace notifications** (`__keyevent@<db>__:expired`, which needs
//! `notify-keyspace-events` to contain `E` and `x`) or by the watch stream comparing
//! listings. `keyspace_events=` chooses:
//! - `auto` (default): use notifications if the server already has them on (`CONFIG GET`),
//!   else compare listings every 500 ms;
//! - `set`: turn them on with `CONFIG SET notify-keyspace-events` (adding `Ex` to the current
//!   flags; a server-wide setting, refused by some managed services);
//! - `off`: compare listings only.
//!
//! With notifications on, listings are still compared every 10 s (pub/sub is at-most-once).
//! Not for Redis Cluster (scripts touch keys they do not declare).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;
use redis::{Script, aio::ConnectionManager};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::{
    backend::{
        Backend, Lease, RemovalReason, WatchEvent, WatchStream, by_id, check_lease_matches,
        diff_listings,
    },
    error::{DiscoveryError, Result},
    factory::{BackendFactory, namespace, query_param},
    instance::{ServiceInstance, validate_name},
};

const NAME: &str = "redis";

/// How expiries reach watchers (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyspaceEvents {
    /// Use notifications if the server has them on.
    Auto,
    /// Turn them on with `CONFIG SET`.
    Set,
    /// Compare listings only.
    Off,
}

/// The Redis backend.
#[derive(Clone)]
pub struct RedisBackend {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    db: i64,
    notifications: bool,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("db", &self.db)
            .field("notifications", &self.notifications)
            .finish_non_exhaustive()
    }
}

pub(crate) struct RedisFactory;

#[async_trait]
impl BackendFactory for RedisFactory {
    fn scheme(&self) -> &'static str {
        "redis"
    }
    async fn resolve(&self, url: &Url) -> Result<Arc<dyn Backend>> {
        let ns = namespace(url)?;
        let mode = match query_param(url, "keyspace_events").as_deref() {
            None | Some("auto") => KeyspaceEvents::Auto,
            Some("set") => KeyspaceEvents::Set,
            Some("off") => KeyspaceEvents::Off,
            Some(other) => {
                return Err(DiscoveryError::InvalidUrl {
                    url: marketprism_core::redact::url(url.as_str()),
                    reason: format!("keyspace_events must be auto, set or off, not `{other}`"),
                });
            }
        };
        let mut server = url.clone();
        server.set_query(None);
        Ok(Arc::new(
            RedisBackend::connect(server.as_str(), &ns, mode).await?,
        ))
    }
}

fn unavailable(what: &str, e: redis::RedisError) -> DiscoveryError {
    DiscoveryError::unavailable(NAME, what.to_owned(), e)
}

/// A change notification on `events:<service>`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Note {
    Put { instance: ServiceInstance },
    Del { id: String },
}

const NOW: &str = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) ";

impl RedisBackend {
    /// Connects to `server` (`redis://127.0.0.1:6379/0`).
    pub async fn connect(server: &str, namespace: &str, mode: KeyspaceEvents) -> Result<Self> {
        validate_name("namespace", namespace)?;
        let client = redis::Client::open(server).map_err(|e| DiscoveryError::InvalidUrl {
            url: server.to_owned(),
            reason: e.to_string(),
        })?;
        let db = client.get_connection_info().redis_settings().db();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let mut conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| unavailable(&format!("cannot connect to {server}"), e))?;
        let notifications = match mode {
            KeyspaceEvents::Off => false,
            KeyspaceEvents::Auto => notify_flags(&mut conn)
                .await
                .is_some_and(|f| has_expired(&f)),
            KeyspaceEvents::Set => {
                let flags = notify_flags(&mut conn).await.unwrap_or_default();
                if !has_expired(&flags) {
                    let mut wanted: String = flags.clone();
                    for c in ['E', 'x'] {
                        if !wanted.contains(c) {
                            wanted.push(c);
                        }
                    }
                    let _: () = redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("notify-keyspace-events")
                        .arg(&wanted)
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| unavailable("CONFIG SET notify-keyspace-events", e))?;
                }
                true
            }
        };
        Ok(Self {
            client,
            conn,
            prefix: format!("mp:discovery:{namespace}:"),
            db,
            notifications,
        })
    }

    /// Whether expiries arrive by keyspace notification.
    pub fn uses_keyspace_notifications(&self) -> bool {
        self.notifications
    }

    fn key(&self, service: &str, id: &str) -> String {
        format!("{}i:{service}:{id}", self.prefix)
    }
    fn index(&self, service: &str) -> String {
        format!("{}z:{service}", self.prefix)
    }
    fn channel(&self, service: &str) -> String {
        format!("{}events:{service}", self.prefix)
    }

    /// Writes the record (`xx`: only if it exists, keeping its TTL).
    async fn write(&self, instance: &ServiceInstance, ttl: Duration, xx: bool) -> Result<bool> {
        let script = Script::new(&format!(
            "{NOW}
            if ARGV[5] == '1' then
              if not redis.call('SET', KEYS[1], ARGV[1], 'XX', 'KEEPTTL') then return 0 end
            else
              redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
              redis.call('ZADD', KEYS[2], now + ARGV[2], ARGV[3])
              redis.call('ZADD', KEYS[3], 'GT', now + ARGV[2], ARGV[4])
              redis.call('ZADD', KEYS[3], 'NX', now + ARGV[2], ARGV[4])
            end
            redis.call('PUBLISH', KEYS[4], ARGV[6])
            return 1"
        ));
        let note = serde_json::to_string(&Note::Put {
            instance: instance.clone(),
        })?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let done: i64 = script
            .key(self.key(&instance.service, &instance.id))
            .key(self.index(&instance.service))
            .key(format!("{}services", self.prefix))
            .key(self.channel(&instance.service))
            .arg(String::from_utf8_lossy(&instance.to_json()?).into_owned())
            .arg(ttl_ms)
            .arg(&instance.id)
            .arg(&instance.service)
            .arg(if xx { "1" } else { "0" })
            .arg(note)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("write script", e))?;
        Ok(done == 1)
    }
}

async fn notify_flags(conn: &mut ConnectionManager) -> Option<String> {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query_async(conn)
        .await
        .ok()?;
    pair.get(1).cloned()
}

fn has_expired(flags: &str) -> bool {
    flags.contains('E') && (flags.contains('x') || flags.contains('A'))
}

#[async_trait]
impl Backend for RedisBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn register(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Lease> {
        instance.validate()?;
        self.write(instance, ttl, false).await?;
        Ok(Lease {
            service: instance.service.clone(),
            id: instance.id.clone(),
            ttl,
            token: 0,
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<()> {
        let script = Script::new(&format!(
            "{NOW}
            if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
            redis.call('ZADD', KEYS[2], now + ARGV[1], ARGV[2])
            redis.call('ZADD', KEYS[3], 'GT', now + ARGV[1], ARGV[3])
            redis.call('ZADD', KEYS[3], 'NX', now + ARGV[1], ARGV[3])
            return 1"
        ));
        let ttl_ms = u64::try_from(lease.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let done: i64 = script
            .key(self.key(&lease.service, &lease.id))
            .key(self.index(&lease.service))
            .key(format!("{}services", self.prefix))
            .arg(ttl_ms)
            .arg(&lease.id)
            .arg(&lease.service)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("renew script", e))?;
        if done == 1 {
            Ok(())
        } else {
            Err(DiscoveryError::not_found(&lease.service, &lease.id))
        }
    }

    async fn update(&self, lease: &Lease, instance: &ServiceInstance) -> Result<()> {
        check_lease_matches(lease, instance)?;
        if self.write(instance, lease.ttl, true).await? {
            Ok(())
        } else {
            Err(DiscoveryError::not_found(&lease.service, &lease.id))
        }
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<()> {
        validate_name("service name", service)?;
        validate_name("instance id", id)?;
        let script = Script::new(
            "redis.call('ZREM', KEYS[2], ARGV[1])
            if redis.call('DEL', KEYS[1]) == 1 then redis.call('PUBLISH', KEYS[3], ARGV[2]) end
            return 1",
        );
        let note = serde_json::to_string(&Note::Del { id: id.to_owned() })?;
        let _: i64 = script
            .key(self.key(service, id))
            .key(self.index(service))
            .key(self.channel(service))
            .arg(id)
            .arg(note)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("deregister script", e))?;
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        validate_name("service name", service)?;
        let script = Script::new(&format!(
            "{NOW}
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            local out = {{}}
            for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
              local v = redis.call('GET', ARGV[1] .. id)
              if v then table.insert(out, v) end
            end
            return out"
        ));
        let values: Vec<Vec<u8>> = script
            .key(self.index(service))
            .arg(format!("{}i:{service}:", self.prefix))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("list script", e))?;
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            match ServiceInstance::from_json(&v) {
                Ok(i) => out.push(i),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable Redis discovery record"),
            }
        }
        Ok(out)
    }

    async fn services(&self) -> Result<Vec<String>> {
        let script = Script::new(&format!(
            "{NOW}
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            local out = {{}}
            for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
              if redis.call('ZCOUNT', ARGV[1] .. name, now, '+inf') > 0 then
                table.insert(out, name)
              end
            end
            return out"
        ));
        let mut names: Vec<String> = script
            .key(format!("{}services", self.prefix))
            .arg(format!("{}z:", self.prefix))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| unavailable("services script", e))?;
        names.sort();
        Ok(names)
    }

    async fn watch(&self, service: &str) -> Result<WatchStream> {
        validate_name("service name", service)?;
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(|e| unavailable("pub/sub connection", e))?;
        pubsub
            .subscribe(self.channel(service))
            .await
            .map_err(|e| unavailable("SUBSCRIBE", e))?;
        let expired_channel = format!("__keyevent@{}__:expired", self.db);
        if self.notifications {
            pubsub
                .subscribe(&expired_channel)
                .await
                .map_err(|e| unavailable("SUBSCRIBE expired", e))?;
        }
        let known = by_id(self.list(service).await?);
        let poll = if self.notifications {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(500)
        };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let state = WatchState {
            messages: pubsub.into_on_message(),
            tick,
            backend: self.clone(),
            service: service.to_owned(),
            key_prefix: format!("{}i:{service}:", self.prefix),
            expired_channel,
            known,
            pending: std::collections::VecDeque::new(),
        };
        Ok(Box::pin(futures::stream::unfold(state, watch_step)))
    }
}

struct WatchState {
    messages: redis::aio::PubSubStream,
    tick: tokio::time::Interval,
    backend: RedisBackend,
    service: String,
    key_prefix: String,
    expired_channel: String,
    known: std::collections::HashMap<String, ServiceInstance>,
    pending: std::collections::VecDeque<Result<WatchEvent>>,
}

impl WatchState {
    /// Applies an event to `known`; queues it unless it changes nothing.
    fn apply(&mut self, ev: WatchEvent) {
        match &ev {
            WatchEvent::Put(i) => {
                if self.known.get(&i.id) == Some(i) {
                    return;
                }
                self.known.insert(i.id.clone(), i.clone());
            }
            WatchEvent::Removed { id, .. } => {
                if self.known.remove(id).is_none() {
                    return;
                }
            }
        }
        self.pending.push_back(Ok(ev));
    }
}

async fn watch_step(mut st: WatchState) -> Option<(Result<WatchEvent>, WatchState)> {
    loop {
        if let Some(ev) = st.pending.pop_front() {
            return Some((ev, st));
        }
        tokio::select! {
            msg = st.messages.next() => {
                if let Err(e) = st.on_message(msg?) {
                    return Some((Err(e), st));
                }
            }
            _ = st.tick.tick() => {
                // Catch expiries (and anything pub/sub lost) by comparing listings.
                let list = match st.backend.list(&st.service).await {
                    Ok(list) => list,
                    Err(e) => return Some((Err(e), st)),
                };
                // A deregistration's note is published by the same script that deletes the
                // key, so it is already on its way: take it before reading the listing's
                // absences as expiries, or a deregistration would be reported as an expiry.
                while let Ok(Some(msg)) =
                    tokio::time::timeout(Duration::from_millis(100), st.messages.next()).await
                {
                    if let Err(e) = st.on_message(msg) {
                        return Some((Err(e), st));
                    }
                }
                let now = by_id(list);
                for ev in diff_listings(&st.known, &now, RemovalReason::Expired) {
                    st.apply(ev);
                }
            }
        }
    }
}

impl WatchState {
    /// Applies one pub/sub message (a change note or a keyspace expiry).
    fn on_message(&mut self, msg: redis::Msg) -> Result<()> {
        let payload: String = msg.get_payload().unwrap_or_default();
        if msg.get_channel_name() == self.expired_channel {
            if let Some(id) = payload.strip_prefix(&self.key_prefix) {
                self.apply(WatchEvent::Removed {
                    service: self.service.clone(),
                    id: id.to_owned(),
                    reason: RemovalReason::Expired,
                });
            }
            return Ok(());
        }
        match serde_json::from_str::<Note>(&payload)? {
            Note::Put { instance } => self.apply(WatchEvent::Put(instance)),
            Note::Del { id } => self.apply(WatchEvent::Removed {
                service: self.service.clone(),
                id,
                reason: RemovalReason::Deregistered,
            }),
        }
        Ok(())
    }
}
