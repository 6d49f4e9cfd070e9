//! Runs the JetStream → ClickHouse storage pipeline, configured from the environment.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MP_NATS_URL` | NATS server | `nats://127.0.0.1:4222` |
//! | `MP_STREAM` | stream name | `MARKETPRISM` |
//! | `MP_SUBJECT_PREFIX` | subject prefix | none |
//! | `MP_DURABLE` | durable consumer | `storage` |
//! | `MP_CLICKHOUSE_URL` | ClickHouse HTTP URL | `http://127.0.0.1:8123` |
//! | `MP_CLICKHOUSE_DATABASE` | database | `marketprism` |
//! | `MP_BATCH_SIZE` | messages per batch | 1000 |
//! | `MP_ACK_WAIT_MS` | consumer ack wait | 30000 |
//! | `MP_PAUSE_BEFORE_ACK_MS` | crash-test hook: pause between write and ack | none |
//!
//! Stops on SIGINT/SIGTERM (the batch in progress is left unacked and redelivered).

use std::{collections::HashMap, sync::Arc, time::Duration};

use marketprism_core::sink::Sink;
use marketprism_storage::{
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    nats::{NatsConfig, consumer::ConsumerConfig},
    pipeline::{PipelineConfig, run_storage_pipeline},
};

fn var(env: &HashMap<String, String>, key: &str, default: &str) -> String {
    env.get(key).cloned().unwrap_or_else(|| default.to_owned())
}

fn number(env: &HashMap<String, String>, key: &str, default: u64) -> Result<u64, String> {
    match env.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{key}={v:?} is not a number")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut nats = NatsConfig::new(var(&env, "MP_NATS_URL", "nats://127.0.0.1:4222")).stream(var(
        &env,
        "MP_STREAM",
        "MARKETPRISM",
    ));
    if let Some(prefix) = env.get("MP_SUBJECT_PREFIX") {
        nats = nats.subject_prefix(prefix.as_str());
    }
    let store = ClickHouseStore::connect(
        ClickHouseConfig::new(var(&env, "MP_CLICKHOUSE_URL", "http://127.0.0.1:8123"))
            .database(var(&env, "MP_CLICKHOUSE_DATABASE", "marketprism")),
    )
    .await?;
    let mut config = PipelineConfig::new(nats).consumer(
        ConsumerConfig::default()
            .durable_name(var(&env, "MP_DURABLE", "storage"))
            .batch_size(usize::try_from(number(&env, "MP_BATCH_SIZE", 1000)?)?)
            .ack_wait(Duration::from_millis(number(
                &env,
                "MP_ACK_WAIT_MS",
                30_000,
            )?)),
    );
    if env.contains_key("MP_PAUSE_BEFORE_ACK_MS") {
        config.pause_before_ack = Some(Duration::from_millis(number(
            &env,
            "MP_PAUSE_BEFORE_ACK_MS",
            0,
        )?));
    }
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(store)];
    eprintln!("marketprism-storage-pipeline: running");
    run_storage_pipeline(config, sinks, async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await?;
    eprintln!("marketprism-storage-pipeline: stopped");
    Ok(())
}
