//! The gateway router (`marketprism_gateway::router`) with API keys, JWT, CORS, limits and
//! static upstreams (one unreachable instance), called with arbitrary paths, methods, headers
//! (auth, origin, forwarded-for, request id, upgrade) and bodies (see `RawRequest`).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use marketprism_fuzz::{RawRequest, runtime, send};
use marketprism_gateway::{
    BusEventSource, Role, StaticUpstreams, Upstream,
    config::{GatewayConfig, RateConfig, Secret},
};

fn router() -> &'static axum::Router {
    static ROUTER: OnceLock<axum::Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut config = GatewayConfig::default()
            .api_key("reader", "reader-key", &[Role::Read])
            .api_key("admin", "admin-key", &[Role::Admin]);
        config.auth.jwt.hs256_secret = Some(Secret::new("fuzz-secret"));
        config.cors.allowed_origins = vec!["https://app.example".into()];
        config.limits.trust_forwarded_for = true;
        let huge = RateConfig {
            per_second: 1_000_000_000,
            burst: 1_000_000_000,
        };
        config.limits.per_ip = Some(huge);
        config.limits.per_key = Some(huge);
        config.proxy.connect_timeout_ms = 50;
        config.proxy.timeout_ms = 100;
        config.proxy.max_retries = 0;
        let upstreams = StaticUpstreams::new().with(
            "data-storage-service",
            Upstream::new("dead-1", "http://127.0.0.1:9"),
        );
        // Built inside the runtime: the proxy client needs one.
        runtime().block_on(async {
            marketprism_gateway::router(
                config,
                Arc::new(upstreams),
                Arc::new(BusEventSource::default()),
            )
            .unwrap_or_else(|e| panic!("router: {e}"))
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = RawRequest::parse(data) else {
        return;
    };
    let Some(request) = raw.to_request() else {
        return;
    };
    let router = router();
    let status = runtime().block_on(send(router, request));
    assert_ne!(status.as_u16(), 500, "{} {}", raw.method, raw.path);
});
