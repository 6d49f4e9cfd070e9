//! Process set-up shared by every binary: tracing and shutdown signals.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs a tracing subscriber writing to stderr (stdout carries data in CLI commands).
/// `RUST_LOG` filters (default `info`); `json` switches to JSON lines.
pub fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    // Already initialised (tests, embedding): keep the existing subscriber.
    drop(result);
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Installs the Prometheus recorder, then describes every metric the services and the
/// connectors export, so each has its `# HELP` in every mode (one process included):
/// descriptions given before the recorder exists are lost.
pub fn describe_metrics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = marketprism_core::runtime::prometheus();
        marketprism_storage::metrics_names::describe();
        marketprism_discovery::metrics::describe();
        use metrics::{describe_counter as c, describe_gauge as g};
        c!(
            "marketprism_collector_events_total",
            "Events collected, by exchange, market and type"
        );
        c!(
            "marketprism_collector_gaps_total",
            "Sequence gaps detected, by exchange and market"
        );
        c!(
            "marketprism_collector_resyncs_total",
            "Order-book resyncs, by exchange and market"
        );
        c!(
            "marketprism_collector_published_total",
            "Events published by the collector"
        );
        c!(
            "marketprism_collector_publish_failures_total",
            "Failed publish attempts of the collector"
        );
        g!(
            "marketprism_collector_last_event_timestamp_seconds",
            "Receipt time of the last event, by exchange, market and type"
        );
        g!(
            "marketprism_collector_connections",
            "Open exchange connections, by exchange"
        );
        c!(
            "marketprism_connection_drops_total",
            "Exchange connections that ended with an error"
        );
        c!(
            "marketprism_exchange_error_frames_total",
            "Error frames received from exchanges"
        );
        c!(
            "marketprism_exchange_errors_total",
            "Exchange frames that could not be normalized"
        );
        c!(
            "marketprism_rest_rate_limited_total",
            "REST answers 429/418 from exchanges"
        );
        c!(
            "marketprism_rest_weight_throttled_total",
            "REST requests delayed by the weight budget"
        );
        c!(
            "marketprism_monitoring_alert_transitions_total",
            "Alert state changes, by rule and state"
        );
        g!("marketprism_monitoring_alerts_firing", "Alerts firing now");
        c!(
            "marketprism_scheduler_fired_total",
            "Task firings this scheduler won, by task"
        );
        c!(
            "marketprism_scheduler_runs_total",
            "Task runs, by task and status"
        );
        g!(
            "marketprism_broker_stream_messages",
            "Messages in each JetStream stream"
        );
        g!(
            "marketprism_broker_stream_bytes",
            "Bytes in each JetStream stream"
        );
        g!(
            "marketprism_broker_consumer_pending",
            "Messages not yet delivered to each consumer"
        );
        g!(
            "marketprism_broker_consumer_ack_pending",
            "Messages delivered but not acknowledged, by consumer"
        );
        c!(
            "marketprism_gateway_upstream_requests_total",
            "Proxied requests, by service, instance and outcome"
        );
        c!(
            "marketprism_gateway_rate_limited_total",
            "Requests refused by a rate limit, by scope"
        );
        c!(
            "marketprism_gateway_auth_failures_total",
            "Requests refused by authentication, by reason"
        );
        g!(
            "marketprism_gateway_ws_clients",
            "Live WebSocket clients of the gateway"
        );
        c!(
            "marketprism_gateway_ws_slow_disconnects_total",
            "WebSocket clients closed for reading too slowly"
        );
        c!(
            "marketprism_storage_clickhouse_rows_total",
            "Rows inserted into ClickHouse"
        );
        metrics::describe_histogram!(
            "marketprism_storage_clickhouse_insert_seconds",
            metrics::Unit::Seconds,
            "ClickHouse insert latency"
        );
        c!(
            "marketprism_storage_retention_partitions_dropped_total",
            "ClickHouse partitions dropped by retention"
        );
        c!(
            "marketprism_storage_archive_partitions_finalized_total",
            "ClickHouse partitions merged by the daily archive"
        );
    });
}
