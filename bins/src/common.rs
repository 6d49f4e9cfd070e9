//! What every service shares: the common config sections, config loading (file < env <
//! `--set`), registration in discovery, and the graceful-shutdown sequence
//! (deregister → drain → flush → stop HTTP).

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Args;
use marketprism_core::{
    config::{ConfigLoader, Validate},
    runtime::Service,
};
use marketprism_discovery::{Registry, ServiceInstance, backend_from_url};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Error type of the service modules.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result type of the service modules.
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// `[service]`: name, listen address, address advertised in discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSection {
    /// Service name (registered in discovery). Env `SERVICE_NAME`.
    pub name: String,
    /// `host:port` to listen on.
    pub listen: String,
    /// Host other services use to reach this one (default: the listen IP, or 127.0.0.1 when
    /// listening on all interfaces).
    pub advertise_host: Option<String>,
    /// Weight in discovery (weighted round-robin).
    pub weight: u32,
    /// Service credentials: when set, every route but `/health` and `/metrics` requires one of
    /// them in `X-MarketPrism-Service-Token`, and the first is what this service sends when it
    /// calls another (gateway → services, scheduler → targets). One shared secret for the
    /// platform; list the new one first and keep the old one while rotating. Env
    /// `MARKETPRISM_SERVICE__TOKENS` (one value, or `[new, old]`).
    pub tokens: ServiceTokenList,
}

/// Secrets that never show in logs or `Debug` output (only their count).
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServiceTokenList(pub Vec<String>);

impl std::fmt::Debug for ServiceTokenList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} tokens, redacted]", self.0.len())
    }
}

impl<'de> Deserialize<'de> for ServiceTokenList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(ServiceTokenList(match OneOrMany::deserialize(d)? {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(t) => t,
        }))
    }
}

impl ServiceTokenList {
    /// What the runtime checks.
    pub fn accepted(&self) -> marketprism_core::runtime::ServiceTokens {
        marketprism_core::runtime::ServiceTokens::new(&self.0)
    }

    /// The token this service sends (the first), if any.
    pub fn current(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }
}

impl ServiceSection {
    /// Defaults for a service.
    pub fn new(name: &str, port: u16) -> Self {
        ServiceSection {
            name: name.to_owned(),
            listen: format!("0.0.0.0:{port}"),
            advertise_host: None,
            weight: 1,
            tokens: ServiceTokenList::default(),
        }
    }
}

impl Default for ServiceSection {
    fn default() -> Self {
        ServiceSection::new("marketprism", 0)
    }
}

/// `[discovery]`: the registry backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoverySection {
    /// `memory://` (in-process), `etcd://host:2379`, `nats://host:4222`, `redis://host:6379`,
    /// `consul://host:8500`, `consul+https://host:8501`. Env `DISCOVERY_URL`, the original's
    /// `CONSUL_URL` (+ `CONSUL_DATACENTER`), or `MARKETPRISM_DISCOVERY__URL` (wins).
    pub url: String,
    /// Registration lifetime without renewal (renewed every third of it).
    pub ttl_secs: u64,
    /// Active health checks of discovered instances (0 = off).
    pub health_check_interval_secs: u64,
    /// How a service picks an instance of another: `weighted_round_robin` (default),
    /// `least_connections` or `random`.
    pub balance: marketprism_core::balance::Strategy,
}

impl Default for DiscoverySection {
    fn default() -> Self {
        DiscoverySection {
            url: "memory://".into(),
            ttl_secs: 15,
            health_check_interval_secs: 10,
            balance: marketprism_core::balance::Strategy::WeightedRoundRobin,
        }
    }
}

/// `[nats]`: JetStream. Without `url` the services use the in-process bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSection {
    /// `nats://host:4222`, or the servers of a cluster: comma-separated in one string
    /// (`nats://a:4222,nats://b:4222`) or a list. Env `NATS_URL`.
    #[serde(deserialize_with = "url_or_list")]
    pub url: Option<String>,
    /// Stream name.
    pub stream: String,
    /// Prefix before every subject (`<prefix>.trade.binance...`), to share one server.
    pub subject_prefix: Option<String>,
    /// Copies of each stream a JetStream cluster keeps (1 for one server, 3 for a
    /// three-node cluster). Applies when a stream is created.
    pub replicas: usize,
    /// What the stream stores: `per_symbol` (default; one message per subject and batch,
    /// JetStream consumers can filter by symbol) or `bulk` (one message per venue and batch
    /// on `bulk.{exchange}.{market}`, per-symbol subjects live over core NATS only). The
    /// collector, storage and every reader of one stream must agree.
    pub stream_layout: marketprism_storage::nats::StreamLayout,
}

impl Default for NatsSection {
    fn default() -> Self {
        NatsSection {
            url: None,
            stream: "MARKETPRISM".into(),
            subject_prefix: None,
            replicas: 1,
            stream_layout: Default::default(),
        }
    }
}

/// `url` as one string or a list of strings (joined with commas).
fn url_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum UrlOrList {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<UrlOrList>::deserialize(d)? {
        None => None,
        Some(UrlOrList::One(u)) => Some(u),
        Some(UrlOrList::Many(list)) => Some(list.join(",")),
    })
}

impl NatsSection {
    /// The storage crate's NATS config, when a URL is set.
    pub fn storage_config(&self) -> Option<marketprism_storage::nats::NatsConfig> {
        let url = self.url.as_ref()?;
        let mut c = marketprism_storage::nats::NatsConfig::new(url.as_str())
            .stream(&self.stream)
            .replicas(self.replicas)
            .layout(self.stream_layout);
        if let Some(p) = &self.subject_prefix {
            c = c.subject_prefix(p.as_str());
        }
        Some(c)
    }
}

/// Connects as `name` to any of the NATS servers in `urls` (comma-separated).
pub async fn connect_nats(urls: &str, name: &str) -> Result<async_nats::Client> {
    Ok(marketprism_storage::nats::connect_to(urls, name).await?)
}

/// Flags every service binary takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ServiceArgs {
    /// Configuration file (.toml, .yaml).
    #[arg(long, short, env = "MARKETPRISM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override one key: `--set service.listen=127.0.0.1:9000` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Shorthand for `--set service.listen=ADDR`.
    #[arg(long)]
    pub listen: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

/// Loads `T`: defaults < file < env (`DISCOVERY_URL`, seed names, `MARKETPRISM_*`) < `--set`,
/// then checks its values ([`Validate`]): one error names every bad key and its origin.
pub fn load_config<T: Serialize + DeserializeOwned + Validate>(
    defaults: &T,
    file: Option<&Path>,
    env: &HashMap<String, String>,
    sets: &[String],
) -> Result<T> {
    let mut loader = ConfigLoader::new(defaults);
    if let Some(f) = file {
        loader = loader.file(f);
    }
    Ok(loader.env(env).set_all(sets).load_validated()?)
}

/// Loads a service config from its binary's flags and the process environment.
pub fn load_from_args<T: Serialize + DeserializeOwned + Validate>(
    defaults: &T,
    args: &ServiceArgs,
) -> Result<T> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut sets = args.set.clone();
    if let Some(l) = &args.listen {
        sets.push(format!("service.listen={l}"));
    }
    load_config(defaults, args.config.as_deref(), &env, &sets)
}

/// Connects to the discovery backend.
pub async fn registry(discovery: &DiscoverySection) -> Result<Registry> {
    let backend = backend_from_url(&discovery.url).await?;
    let hc = discovery.health_check_interval_secs;
    Ok(Registry::builder(backend)
        .ttl(Duration::from_secs(discovery.ttl_secs.max(2)))
        .health_check_interval((hc > 0).then(|| Duration::from_secs(hc)))
        .balance(discovery.balance)
        .build())
}

/// Registers this service (renewed in the background until the registry deregisters it).
pub async fn register(
    registry: &Registry,
    service: &ServiceSection,
    addr: SocketAddr,
) -> Result<ServiceInstance> {
    let host = service.advertise_host.clone().unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        }
    });
    let instance = ServiceInstance::builder(service.name.as_str(), host.as_str(), addr.port())
        .health_check_url(format!("http://{host}:{}/health", addr.port()))
        .metadata("version", env!("CARGO_PKG_VERSION"))
        .weight(service.weight.max(1))
        .build()?;
    let registered = registry.register(instance).await?;
    tracing::info!(service = %service.name, id = %registered.id, url = %registered.base_url(), "registered in discovery");
    Ok(registered)
}

/// A token cancelled when `shutdown` completes.
pub fn shutdown_token(shutdown: impl Future<Output = ()> + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => t.cancel(),
            () = t.cancelled() => {}
        }
    });
    token
}

/// Serves `service` on `listener` in the background until `stop` is cancelled.
pub fn spawn_http(
    service: Service,
    listener: TcpListener,
    stop: CancellationToken,
) -> JoinHandle<Result<(), marketprism_core::Error>> {
    tokio::spawn(service.serve(listener, stop.cancelled_owned()))
}

/// The end of every service, after [`deregister`] and the service's own drain and flush:
/// stop HTTP and wait for in-flight requests.
pub async fn finish(
    http_stop: CancellationToken,
    http: JoinHandle<Result<(), marketprism_core::Error>>,
) -> Result<()> {
    http_stop.cancel();
    match http.await {
        Ok(r) => Ok(r?),
        Err(e) => Err(Box::new(e)),
    }
}

/// Deregisters right away (first step of a graceful stop).
pub async fn deregister(registry: &Registry) {
    if let Err(e) = registry.shutdown().await {
        tracing::warn!(error = %e, "deregistration failed (the record expires after its TTL)");
    }
}

/// Binds `addr`.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}").into())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The body of every service binary: load config from flags + environment, bind
/// `service.listen`, run until SIGTERM/SIGINT.
pub async fn run_main<C, F, Fut>(args: &ServiceArgs, defaults: C, run: F) -> std::process::ExitCode
where
    C: Serialize + DeserializeOwned + ServiceConfig + Validate,
    F: FnOnce(C, TcpListener) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    crate::telemetry::init_tracing(args.log_json);
    crate::telemetry::describe_metrics();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = async {
        let config: C = load_from_args(&defaults, args)?;
        let listener = bind(&config.service().listen).await?;
        run(config, listener).await
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "failed");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Every service config has a `[service]` section.
pub trait ServiceConfig {
    /// The `[service]` section.
    fn service(&self) -> &ServiceSection;
    /// Mutable `[service]` section.
    fn service_mut(&mut self) -> &mut ServiceSection;
    /// The `[discovery]` section.
    fn discovery(&self) -> &DiscoverySection;
    /// The mutable `[discovery]` section.
    fn discovery_mut(&mut self) -> &mut DiscoverySection;
}

/// Implements [`ServiceConfig`] for a config with `service` and `discovery` fields.
#[macro_export]
macro_rules! service_config {
    ($t:ty) => {
        impl $crate::common::ServiceConfig for $t {
            fn service(&self) -> &$crate::common::ServiceSection {
                &self.service
            }
            fn service_mut(&mut self) -> &mut $crate::common::ServiceSection {
                &mut self.service
            }
            fn discovery(&self) -> &$crate::common::DiscoverySection {
                &self.discovery
            }
            fn discovery_mut(&mut self) -> &mut $crate::common::DiscoverySection {
                &mut self.discovery
            }
        }
    };
}

/// Installs rustls' ring provider once (reqwest is built without a default provider).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nats_from(toml_text: &str) -> NatsSection {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml_text).expect("write");
        #[derive(Serialize, Deserialize, Default)]
        #[serde(default)]
        struct C {
            nats: NatsSection,
        }
        impl Validate for C {
            fn validate(&self, p: &mut marketprism_core::config::Problems) {
                p.nested("nats", &self.nats);
            }
        }
        let c: C = load_config(&C::default(), Some(&path), &HashMap::new(), &[]).expect("load");
        c.nats
    }

    /// Issue 13: a digit-only service token from the environment parsed as a number and was
    /// refused ("did not match any variant").
    #[test]
    fn digit_only_service_tokens_from_the_environment() {
        #[derive(Serialize, Deserialize, Default)]
        #[serde(default)]
        struct C {
            service: ServiceSection,
        }
        impl Validate for C {
            fn validate(&self, _: &mut marketprism_core::config::Problems) {}
        }
        for (value, want) in [
            ("0123456", vec!["0123456"]),
            ("[0042, 17]", vec!["0042", "17"]),
            ("s3cret", vec!["s3cret"]),
        ] {
            let env = HashMap::from([("MARKETPRISM_SERVICE__TOKENS".to_owned(), value.to_owned())]);
            let c: C = load_config(&C::default(), None, &env, &[]).expect("loads");
            assert_eq!(c.service.tokens.0, want, "{value}");
        }
    }

    #[test]
    fn nats_url_is_one_string_or_a_list_and_replicas_reach_the_streams() {
        let one = nats_from("[nats]\nurl = \"nats://a:4222,nats://b:4222\"\nreplicas = 3\n");
        let list =
            nats_from("[nats]\nurl = [\"nats://a:4222\", \"nats://b:4222\"]\nreplicas = 3\n");
        assert_eq!(one, list);
        let c = one.storage_config().expect("url set");
        assert_eq!(c.servers(), ["nats://a:4222", "nats://b:4222"]);
        assert_eq!(c.replicas, 3);
        assert_eq!(nats_from("").replicas, 1);
        assert_eq!(nats_from("").url, None);
    }

    #[test]
    fn the_stream_layout_reaches_the_streams() {
        use marketprism_storage::nats::StreamLayout;
        let layout = |text: &str| {
            nats_from(&format!("[nats]\nurl = \"nats://a:4222\"\n{text}"))
                .storage_config()
                .expect("url set")
                .layout
        };
        assert_eq!(layout(""), StreamLayout::PerSymbol);
        assert_eq!(layout("stream_layout = \"bulk\"\n"), StreamLayout::Bulk);
        assert_eq!(
            layout("stream_layout = \"bulk_only\"\n"),
            StreamLayout::BulkOnly
        );
    }
}
