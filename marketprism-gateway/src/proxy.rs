//! Forwarding: route table → discovery → smooth WRR over healthy instances whose breaker
//! admits → HTTP request with a timeout → retry on *another* instance when allowed.
//!
//! Retry rules:
//! - idempotent methods (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`, `TRACE`) are retried after a
//!   transport error, a timeout or a 5xx, up to `proxy.max_retries` times, each time on an
//!   instance not tried yet;
//! - `POST` and `PATCH` are never retried once they may have reached an upstream; the only
//!   exception is a connect error (connection refused / connect timeout), where the request
//!   provably never left the gateway.
//!
//! Every attempt reports to the instance's breaker: transport errors, timeouts and 5xx are
//! failures, everything else a success. Hop-by-hop headers are removed both ways; the
//! client's credentials (`Authorization`, `X-API-Key`) are not forwarded — upstreams get
//! `X-MarketPrism-Principal` and `X-MarketPrism-Roles` instead, plus `X-Forwarded-For`,
//! `X-Forwarded-Host`, `X-Forwarded-Proto` and the request's `X-Request-Id`.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, header},
    response::{IntoResponse, Response},
};

use crate::{
    GatewayError, GatewayState,
    auth::{AuthMethod, Principal},
    ratelimit::client_ip,
    upstream::Upstream,
};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Headers the client may not set itself (the gateway sets them).
const GATEWAY_OWNED: [&str; 2] = ["x-marketprism-principal", "x-marketprism-roles"];

/// Whether retrying `method` can not repeat a side effect.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Builds the HTTP client used for upstreams: no system proxy, no redirects followed, a
/// connect timeout and a bounded idle pool.
pub(crate) fn client(config: &crate::config::ProxyConfig) -> Result<reqwest::Client, GatewayError> {
    // Needed only for https upstreams; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| GatewayError::config_with("cannot build the upstream HTTP client", e))
}

/// The fallback handler: everything that is not a gateway route is proxied.
pub(crate) async fn handler(State(state): State<Arc<GatewayState>>, req: Request) -> Response {
    match forward(&state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

enum Failure {
    Response(reqwest::Response),
    Error(GatewayError),
}

async fn forward(state: &GatewayState, req: Request) -> Result<Response, GatewayError> {
    let service = state
        .config
        .service_for(req.uri().path())
        .ok_or_else(|| GatewayError::NoRoute {
            path: req.uri().path().to_owned(),
        })?
        .to_owned();
    let client_ip = client_ip(&req, state.config.limits.trust_forwarded_for);
    let (parts, body) = req.into_parts();
    let limit = state.config.limits.body_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            GatewayError::PayloadTooLarge { limit }
        } else {
            GatewayError::BadRequest {
                message: "unreadable request body".to_owned(),
            }
        }
    })?;
    let headers = upstream_headers(
        &parts.headers,
        parts.extensions.get::<Principal>(),
        client_ip,
    );
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let idempotent = is_idempotent(&parts.method);
    let max_attempts = 1 + state.config.proxy.max_retries as usize;
    let timeout = Duration::from_millis(state.config.proxy.timeout_ms);

    let instances = state.upstreams.instances(&service).await?;
    let mut tried: Vec<&str> = Vec::with_capacity(max_attempts);
    let mut last: Option<Failure> = None;
    let mut attempts = 0;
    while attempts < max_attempts {
        let mut candidates: Vec<Upstream> = Vec::with_capacity(instances.len());
        for u in &instances {
            if !u.healthy || u.weight == 0 || tried.contains(&u.id.as_str()) {
                continue;
            }
            let breaker = state.breakers.get(&service, &u.id);
            if breaker.would_admit() {
                candidates.push(u.clone());
            } else {
                // Skipped once per request, counted once.
                breaker.record_rejection();
                tried.push(u.id.as_str());
            }
        }
        let Some(index) = state.balancer.pick(&service, &candidates) else {
            break;
        };
        let upstream = &candidates[index];
        let Some(original) = instances.iter().find(|u| u.id == upstream.id) else {
            break;
        };
        tried.push(original.id.as_str());
        let breaker = state.breakers.get(&service, &upstream.id);
        // Another request may have taken the half-open probe since the filter ran.
        let Some(permit) = breaker.try_acquire() else {
            continue;
        };
        attempts += 1;
        let url = format!(
            "{}{}",
            upstream.base_url.trim_end_matches('/'),
            path_and_query
        );
        let mut request = state
            .client
            .request(parts.method.clone(), url)
            .headers(headers.clone())
            .timeout(timeout);
        if !body.is_empty() {
            request = request.body(body.clone());
        }
        let outcome_label;
        let retryable = match request.send().await {
            Ok(response) if response.status().is_server_error() => {
                permit.failure();
                outcome_label = "5xx";
                last = Some(Failure::Response(response));
                idempotent
            }
            Ok(response) => {
                permit.success();
                record(&service, &upstream.id, "ok");
                return Ok(downstream_response(response));
            }
            Err(e) => {
                permit.failure();
                let connect = e.is_connect();
                outcome_label = if e.is_timeout() { "timeout" } else { "error" };
                let error = if e.is_timeout() {
                    GatewayError::UpstreamTimeout {
                        service: service.clone(),
                        instance: upstream.id.clone(),
                    }
                } else {
                    GatewayError::Upstream {
                        service: service.clone(),
                        instance: upstream.id.clone(),
                        source: e,
                    }
                };
                tracing::debug!(error = %error, connect, "upstream attempt failed");
                last = Some(Failure::Error(error));
                idempotent || connect
            }
        };
        record(&service, &upstream.id, outcome_label);
        if !retryable {
            break;
        }
    }
    match last {
        Some(Failure::Response(response)) => Ok(downstream_response(response)),
        Some(Failure::Error(error)) => Err(error),
        None => {
            let retry_after = instances
                .iter()
                .filter_map(|u| state.breakers.get(&service, &u.id).retry_after())
                .min();
            Err(GatewayError::NoInstance {
                service,
                retry_after,
            })
        }
    }
}

fn record(service: &str, instance: &str, outcome: &'static str) {
    metrics::counter!("marketprism_gateway_upstream_requests_total",
        "service" => service.to_owned(), "instance" => instance.to_owned(), "outcome" => outcome)
    .increment(1);
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Names listed in the `Connection` header are hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn upstream_headers(
    incoming: &HeaderMap,
    principal: Option<&Principal>,
    client_ip: Option<std::net::IpAddr>,
) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::AUTHORIZATION);
    headers.remove("x-api-key");
    for name in GATEWAY_OWNED {
        headers.remove(name);
    }
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(ip) = client_ip {
        let value = match incoming
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", v);
        }
    }
    if let Some(p) = principal.filter(|p| p.method != AuthMethod::Anonymous) {
        if let Ok(v) = HeaderValue::from_str(&p.name) {
            headers.insert("x-marketprism-principal", v);
        }
        let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
        if let Ok(v) = HeaderValue::from_str(&roles.join(",")) {
            headers.insert("x-marketprism-roles", v);
        }
    }
    headers
}

fn downstream_response(upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    let body = Body::from_stream(upstream.bytes_stream());
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }

    #[test]
    fn hop_by_hop_credentials_and_spoofed_identity_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-custom-hop"),
        );
        h.insert("x-custom-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret"),
        );
        h.insert("x-api-key", HeaderValue::from_static("secret"));
        h.insert("x-marketprism-principal", HeaderValue::from_static("root"));
        h.insert("x-request-id", HeaderValue::from_static("abc"));
        h.insert(header::HOST, HeaderValue::from_static("gw:8080"));
        let out = upstream_headers(&h, None, "10.0.0.1".parse().ok());
        for gone in [
            "connection",
            "x-custom-hop",
            "keep-alive",
            "authorization",
            "x-api-key",
            "x-marketprism-principal",
            "host",
        ] {
            assert!(!out.contains_key(gone), "{gone} should be removed");
        }
        assert_eq!(out["x-request-id"], "abc");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1");
        assert_eq!(out["x-forwarded-host"], "gw:8080");
    }
}
