//! All six services in one process (`marketprism run`), optionally fed by built-in exchange
//! simulators (`marketprism demo`).
//!
//! With no server configured: the in-process bus instead of NATS, the embedded store
//! instead of ClickHouse/Redis, `memory://` discovery. `NATS_URL`, `CLICKHOUSE_URL`,
//! `REDIS_URL`, `DISCOVERY_URL` (or the flags) switch the real servers on.

use std::{collections::HashMap, future::Future, path::PathBuf, time::Duration};

use clap::Args;
use marketprism_core::{bus::Bus, config::Validate};
use marketprism_exchanges::{
    Channel, Venue,
    sim::{SimConfig, SimHandle},
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    broker::BrokerConfig,
    collector::{CollectorConfig, ExchangeConfig},
    common::{self, Result, ServiceConfig},
    gateway_service::GatewayServiceConfig,
    monitoring::MonitoringConfig,
    scheduler::SchedulerConfig,
    storage_service::StorageConfig,
};

/// Flags of `marketprism run` and `marketprism demo`.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// Host the six services listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// First port: gateway = base, collector +1, storage +2, monitoring +3, scheduler +4,
    /// broker +5.
    #[arg(long, default_value_t = 8080)]
    pub base_port: u16,
    /// Folder for the embedded store and the scheduler's tasks.
    #[arg(long, default_value = "marketprism-data")]
    pub data_dir: PathBuf,
    /// NATS JetStream (default: in-process bus). Env `NATS_URL`.
    #[arg(long)]
    pub nats_url: Option<String>,
    /// ClickHouse (default: embedded store). Env `CLICKHOUSE_URL`.
    #[arg(long)]
    pub clickhouse_url: Option<String>,
    /// Redis (default: embedded store). Env `REDIS_URL`.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Discovery backend (default `memory://`). Env `DISCOVERY_URL`.
    #[arg(long)]
    pub discovery_url: Option<String>,
    /// Folder with per-service config files (`collector.toml`, `storage.toml`,
    /// `gateway.toml`, `monitoring.toml`, `scheduler.toml`, `broker.toml`; or .yaml).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// `SERVICE.KEY=VALUE`, e.g. `--set collector.batch_size=100` (repeatable).
    #[arg(long = "set", value_name = "SERVICE.KEY=VALUE")]
    pub set: Vec<String>,
    /// Require API keys / JWT on the gateway (off by default in the one-process mode, which
    /// listens on 127.0.0.1).
    #[arg(long)]
    pub gateway_auth: bool,
}

/// The six configs of one process.
#[derive(Debug, Clone)]
pub struct PlatformConfigs {
    /// api-gateway.
    pub gateway: GatewayServiceConfig,
    /// market-data-collector.
    pub collector: CollectorConfig,
    /// data-storage-service.
    pub storage: StorageConfig,
    /// monitoring-service.
    pub monitoring: MonitoringConfig,
    /// scheduler-service.
    pub scheduler: SchedulerConfig,
    /// message-broker-service.
    pub broker: BrokerConfig,
}

fn load_one<T: Serialize + DeserializeOwned + ServiceConfig + Validate>(
    short: &str,
    offset: u16,
    mut defaults: T,
    args: &PlatformArgs,
    env: &HashMap<String, String>,
) -> Result<T> {
    defaults.service_mut().listen = format!("{}:{}", args.host, args.base_port + offset);
    let mut sets = Vec::new();
    let opt = |k: &str, v: &Option<String>, sets: &mut Vec<String>| {
        if let Some(v) = v {
            sets.push(format!("{k}={v}"));
        }
    };
    opt("discovery.url", &args.discovery_url, &mut sets);
    if short != "gateway" && short != "monitoring" {
        opt("nats.url", &args.nats_url, &mut sets);
    }
    if short == "gateway" {
        opt("nats.url", &args.nats_url, &mut sets);
        if !args.gateway_auth {
            sets.push("gateway.auth.enabled=false".into());
        }
    }
    if short == "storage" {
        opt("clickhouse.url", &args.clickhouse_url, &mut sets);
        opt("redis.url", &args.redis_url, &mut sets);
        sets.push(format!(
            "embedded.path={}",
            args.data_dir.join("store.redb").display()
        ));
    }
    if short == "scheduler" {
        sets.push(format!(
            "store.path={}",
            args.data_dir.join("scheduler.json").display()
        ));
        opt("redis.url", &args.redis_url, &mut sets);
    }
    let prefix = format!("{short}.");
    sets.extend(
        args.set
            .iter()
            .filter_map(|s| s.strip_prefix(&prefix).map(str::to_owned)),
    );
    let file = args.config_dir.as_ref().and_then(|d| {
        ["toml", "yaml", "yml"]
            .iter()
            .map(|e| d.join(format!("{short}.{e}")))
            .find(|p| p.is_file())
    });
    common::load_config(&defaults, file.as_deref(), env, &sets)
        .map_err(|e| format!("{short} config: {e}").into())
}

impl PlatformConfigs {
    /// Loads the six configs (defaults < config dir < env < flags).
    pub fn load(args: &PlatformArgs) -> Result<Self> {
        let env: HashMap<String, String> = std::env::vars().collect();
        // A `--set` addresses one service by its short name; anything else would be ignored
        // by all six, silently.
        const SHORT: [&str; 6] = [
            "gateway",
            "collector",
            "storage",
            "monitoring",
            "scheduler",
            "broker",
        ];
        for set in &args.set {
            let key = set.split_once('=').map_or(set.as_str(), |(k, _)| k);
            let known = key
                .split_once('.')
                .is_some_and(|(short, rest)| SHORT.contains(&short) && !rest.is_empty());
            if !known {
                return Err(format!(
                    "command-line flag `--set {set}`: the key must start with a service ({}), e.g. `storage.clickhouse.url`",
                    SHORT.join(", ")
                )
                .into());
            }
        }
        let mut monitoring = load_one("monitoring", 3, MonitoringConfig::default(), args, &env)?;
        monitoring.gateway_url = Some(format!("http://{}:{}", args.host, args.base_port));
        Ok(PlatformConfigs {
            gateway: load_one("gateway", 0, GatewayServiceConfig::default(), args, &env)?,
            collector: load_one("collector", 1, CollectorConfig::default(), args, &env)?,
            storage: load_one("storage", 2, StorageConfig::default(), args, &env)?,
            monitoring,
            scheduler: load_one("scheduler", 4, SchedulerConfig::default(), args, &env)?,
            broker: load_one("broker", 5, BrokerConfig::default(), args, &env)?,
        })
    }
}

/// Runs the six services in this process until `shutdown`; the storage service starts
/// first and stops last (after the collector drained into it).
pub async fn run_platform(
    configs: PlatformConfigs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(&PlatformConfigs) + Send,
) -> Result<()> {
    crate::telemetry::describe_metrics();
    let bus = Bus::new();
    let stop = common::shutdown_token(shutdown);
    let l = |c: &dyn ServiceConfig| {
        let addr = c.service().listen.clone();
        async move { common::bind(&addr).await }
    };
    let listeners: Vec<TcpListener> = vec![
        l(&configs.broker).await?,
        l(&configs.storage).await?,
        l(&configs.collector).await?,
        l(&configs.gateway).await?,
        l(&configs.monitoring).await?,
        l(&configs.scheduler).await?,
    ];
    let mut it = listeners.into_iter();
    let mut next = || it.next().ok_or("internal: listener missing");
    let storage_stop = CancellationToken::new();
    let others_stop = CancellationToken::new();
    let c = configs.clone();
    let mut tasks = tokio::task::JoinSet::new();
    let (b, s, co, g, m, sc) = (next()?, next()?, next()?, next()?, next()?, next()?);
    tasks.spawn(crate::broker::run(
        c.broker,
        b,
        others_stop.clone().cancelled_owned(),
    ));
    let storage = tokio::spawn(crate::storage_service::run_with_bus(
        c.storage,
        s,
        bus.clone(),
        storage_stop.clone().cancelled_owned(),
    ));
    let collector = tokio::spawn(crate::collector::run_with_bus(
        c.collector,
        co,
        bus.clone(),
        others_stop.clone().cancelled_owned(),
    ));
    tasks.spawn(crate::gateway_service::run_with_bus(
        c.gateway,
        g,
        bus.clone(),
        others_stop.clone().cancelled_owned(),
    ));
    tasks.spawn(crate::monitoring::run(
        c.monitoring,
        m,
        others_stop.clone().cancelled_owned(),
    ));
    tasks.spawn(crate::scheduler::run(
        c.scheduler,
        sc,
        others_stop.clone().cancelled_owned(),
    ));
    ready(&configs);
    let mut storage = storage;
    let mut stored = None;
    let failed = tokio::select! {
        () = stop.cancelled() => None,
        Some(r) = tasks.join_next() => Some(format!("a service stopped: {r:?}")),
        // The storage service ending on its own is a failure too (it stops last otherwise).
        r = &mut storage => {
            let why = format!("data-storage-service stopped: {r:?}");
            stored = Some(r);
            Some(why)
        }
    };
    others_stop.cancel();
    let collected = collector.await;
    while tasks.join_next().await.is_some() {}
    // The collector drained into the bus; give the storage pipeline a moment to write it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    storage_stop.cancel();
    let stored = match stored {
        Some(r) => r,
        None => storage.await,
    };
    bus.close();
    if let Some(f) = failed {
        return Err(f.into());
    }
    collected??;
    stored??;
    Ok(())
}

/// The built-in simulators of `marketprism demo`, and the collector config pointing at them.
pub struct Demo {
    /// Running simulators.
    pub sims: Vec<SimHandle>,
}

/// What `marketprism demo` simulates: every venue, one instrument of each market it lists
/// (spot, perpetual, delivery future, option), with every channel. Each storage query kind
/// then has data for every exchange that offers it (see docs/quickstart.md's table).
pub const DEMO_PLAN: &[(Venue, &[&str])] = &[
    (Venue::BinanceSpot, &["BTCUSDT", "ETHUSDT"]),
    (Venue::BinanceUsdm, &["BTCUSDT", "BTCUSDT_301227"]),
    (Venue::BinanceCoinm, &["BTCUSD_PERP", "BTCUSD_301227"]),
    (
        Venue::Okx,
        &[
            "BTC-USDT",
            "BTC-USDT-SWAP",
            "BTC-USD-301227",
            "BTC-USD-301227-60000-C",
        ],
    ),
    (
        Venue::Deribit,
        &["BTC-PERPETUAL", "BTC-27DEC30", "BTC-27DEC30-60000-C"],
    ),
];

impl Demo {
    /// Starts one simulator per venue of [`DEMO_PLAN`] on free ports, `rate` events per second
    /// and symbol, and returns the collector config subscribing every channel of each.
    /// Channels a market does not offer (funding on spot, ...) are skipped by the collector.
    pub async fn start(rate: f64) -> Result<(Demo, Vec<ExchangeConfig>)> {
        let mut sims = Vec::new();
        let mut exchanges = Vec::new();
        for (venue, natives) in DEMO_PLAN {
            let sim = SimHandle::start(
                SimConfig::new(*venue)
                    .symbols(natives.iter().copied())
                    .rate(rate)
                    .seed(7),
            )
            .await?;
            exchanges.push(ExchangeConfig {
                venue: venue.as_str().into(),
                channels: Channel::ALL.to_vec(),
                symbols: natives.iter().map(|s| (*s).to_owned()).collect(),
                markets: Vec::new(),
                ws_url: Some(sim.ws_url()),
                rest_url: Some(sim.http_url()),
            });
            sims.push(sim);
        }
        Ok((Demo { sims }, exchanges))
    }

    /// Stops the simulators.
    pub async fn stop(self) {
        for s in self.sims {
            let _ = s.shutdown().await;
        }
    }
}

/// What `marketprism demo` / `run` print once the services listen.
pub fn banner(c: &PlatformConfigs) -> String {
    let gw = c.gateway.service.listen.replace("0.0.0.0", "127.0.0.1");
    let port = |l: &str| l.rsplit(':').next().unwrap_or_default().to_owned();
    let mut s = format!(
        "MarketPrism is running (all six services in this process).\n\
         \n  Status page           http://{gw}/monitoring/\n\
         \n  Recent trades (REST)  http://{gw}/api/v1/storage/hot/trades/binance/BTC-USDT\
         \n  Order book (REST)     http://{gw}/api/v1/storage/hot/orderbooks/binance/BTC-USDT\
         \n  Live events (WS)      ws://{gw}/ws/v1/stream?subjects=trade.%3E\
         \n  Collector             http://{gw}/api/v1/collector/exchanges\
         \n  Alerts                http://{gw}/api/v1/alerts\
         \n  Gateway status        http://{gw}/_gateway/status\n\
         \n  Ports: gateway {}, collector {}, storage {}, monitoring {}, scheduler {}, broker {}\n",
        port(&c.gateway.service.listen),
        port(&c.collector.service.listen),
        port(&c.storage.service.listen),
        port(&c.monitoring.service.listen),
        port(&c.scheduler.service.listen),
        port(&c.broker.service.listen),
    );
    s.push_str("\n  Try: curl -s http://");
    s.push_str(&gw);
    s.push_str("/api/v1/storage/hot/trades/binance/BTC-USDT?limit=5\n  Stop with Ctrl-C.\n");
    s
}
