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
//! `X-MarketPrism-Principal` and `X-MarketPrism-Roles` instead, plus `X-Forwarded-For` (the
//! client's chain with the TCP peer appended), `X-Forwarded-Host`, `X-Forwarded-Proto`, the
//! request's `X-Request-Id` and the service credential `X-MarketPrism-Service-Token` from
//! `proxy.service_token` (a client-sent one is always dropped).

mod client;
mod headers;
mod instances;
mod target;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{self, HeaderMap, Method, Uri},
    response::{IntoResponse, Response},
};
use http_body_util::Full;

use client::AttemptError;
pub(crate) use client::UpstreamClient;
pub(crate) use instances::Instances;
use instances::{Instance, Outcome};
use target::Target;

use crate::{GatewayError, GatewayState, auth::Principal, config::ProxyConfig, ratelimit::peer_ip};

/// Whether retrying `method` can not repeat a side effect.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// `proxy.service_token` as a header value marked sensitive (an empty token is none); the
/// error never contains the token.
pub(crate) fn service_token(
    config: &ProxyConfig,
) -> Result<Option<http::HeaderValue>, GatewayError> {
    let Some(token) = config
        .service_token
        .as_ref()
        .filter(|t| !t.expose().is_empty())
    else {
        return Ok(None);
    };
    let mut value = http::HeaderValue::from_str(token.expose()).map_err(|_| {
        GatewayError::config("proxy.service_token: not a valid header value (printable ASCII only)")
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// The fallback handler: everything that is not a gateway route is proxied.
pub(crate) async fn handler(State(state): State<Arc<GatewayState>>, req: Request) -> Response {
    match forward(&state, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

enum Failure {
    Response(Response),
    Error(GatewayError),
}

async fn forward(state: &GatewayState, req: Request) -> Result<Response, GatewayError> {
    // Borrowed from the config for the whole request; owned copies only go into errors.
    let Some(route) = state.config.route_for(req.uri().path()) else {
        return Err(GatewayError::NoRoute {
            path: req.uri().path().to_owned(),
        });
    };
    let service = route.service.as_str();
    let peer_ip = peer_ip(&req);
    let (mut parts, body) = req.into_parts();
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
    let mut headers = headers::upstream_headers(
        std::mem::take(&mut parts.headers),
        parts.extensions.get::<Principal>(),
        peer_ip,
        state.service_token.as_ref(),
    );
    let path_and_query =
        route.upstream_path(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let path_and_query = path_and_query.as_ref();
    let idempotent = is_idempotent(&parts.method);
    let max_attempts = 1 + state.config.proxy.max_retries as usize;
    let timeout = Duration::from_millis(state.config.proxy.timeout_ms);

    let instances = state.upstreams.instances(service).await?;
    // Instances tried (or skipped by their breaker) by this request, by index.
    let mut tried = vec![false; instances.len()];
    let mut candidates: Vec<(usize, Arc<Instance>)> = Vec::with_capacity(instances.len());
    let mut last: Option<Failure> = None;
    let mut attempts = 0;
    while attempts < max_attempts {
        candidates.clear();
        for (i, u) in instances.iter().enumerate() {
            if !u.healthy || u.weight == 0 || tried[i] {
                continue;
            }
            let entry = state
                .instances
                .get(&state.breakers, service, &u.id, &u.base_url);
            if entry.breaker.would_admit() {
                candidates.push((i, entry));
            } else {
                // Skipped once per request, counted once.
                entry.breaker.record_rejection();
                tried[i] = true;
            }
        }
        let Some(pick) = state.balancer.pick_by(service, &candidates, |(i, _)| {
            (instances[*i].id.as_str(), instances[*i].weight)
        }) else {
            break;
        };
        let (index, entry) = (candidates[pick].0, Arc::clone(&candidates[pick].1));
        let upstream = &instances[index];
        tried[index] = true;
        // Another request may have taken the half-open probe since the filter ran.
        let Some(permit) = entry.breaker.try_acquire() else {
            continue;
        };
        attempts += 1;
        // Candidates only shrink, so with no other one left this attempt is the last: the
        // headers move into it instead of being copied.
        let last_attempt = attempts == max_attempts || candidates.len() == 1;
        let headers = if last_attempt {
            std::mem::take(&mut headers)
        } else {
            headers.clone()
        };
        // Counted for least-connections until the response headers (or the failure) arrive.
        let in_flight = state.balancer.start(service, &upstream.id);
        let reparsed;
        let target = match entry.target.as_ref() {
            Some(t) if t.is_for(&upstream.base_url) => Some(t),
            _ => {
                reparsed = Target::parse(&upstream.base_url);
                reparsed.as_ref()
            }
        };
        let attempt = match upstream_request(
            &parts.method,
            (target, &upstream.base_url),
            (parts.uri.path_and_query(), path_and_query),
            headers,
            &body,
        ) {
            Ok(request) => {
                let deadline = tokio::time::Instant::now() + timeout;
                state.client.send(request, deadline).await
            }
            Err(e) => Err(AttemptError::Failed(Box::new(e))),
        };
        drop(in_flight);
        let outcome;
        let retryable = match attempt {
            Ok(response) if response.status().is_server_error() => {
                permit.failure();
                outcome = Outcome::ServerError;
                last = Some(Failure::Response(response));
                idempotent
            }
            Ok(response) => {
                permit.success();
                entry.record(Outcome::Ok);
                return Ok(response);
            }
            Err(e) => {
                permit.failure();
                let instance = upstream.id.clone();
                let service = service.to_owned();
                let (error, connect) = match e {
                    AttemptError::Timeout { connect } => {
                        outcome = Outcome::Timeout;
                        (GatewayError::UpstreamTimeout { service, instance }, connect)
                    }
                    AttemptError::Connect(source) => {
                        outcome = Outcome::Error;
                        let e = GatewayError::Upstream {
                            service,
                            instance,
                            source,
                        };
                        (e, true)
                    }
                    AttemptError::Failed(source) => {
                        outcome = Outcome::Error;
                        let e = GatewayError::Upstream {
                            service,
                            instance,
                            source,
                        };
                        (e, false)
                    }
                };
                tracing::debug!(error = %error, connect, "upstream attempt failed");
                last = Some(Failure::Error(error));
                // A request that provably never left the gateway may go elsewhere.
                idempotent || connect
            }
        };
        entry.record(outcome);
        if !retryable {
            break;
        }
    }
    match last {
        Some(Failure::Response(response)) => Ok(response),
        Some(Failure::Error(error)) => Err(error),
        None => {
            let retry_after = instances
                .iter()
                .filter_map(|u| state.breakers.get(service, &u.id).retry_after())
                .min();
            Err(GatewayError::NoInstance {
                service: service.to_owned(),
                retry_after,
            })
        }
    }
}

/// The request of one attempt: the base URL (a trailing `/` dropped) followed by the path
/// and query, from the instance's parsed [`Target`] (which also gives `Host`); without one,
/// built as one string and parsed. `original` is the client's path and query, reused when
/// unchanged.
fn upstream_request(
    method: &Method,
    (target, base_url): (Option<&Target>, &str),
    (original, path_and_query): (Option<&http::uri::PathAndQuery>, &str),
    mut headers: HeaderMap,
    body: &Bytes,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let uri = match target {
        Some(t) => {
            headers.insert(http::header::HOST, t.host().clone());
            t.uri(original, path_and_query)?
        }
        None => {
            let base = base_url.trim_end_matches('/');
            let mut uri = String::with_capacity(base.len() + path_and_query.len());
            uri.push_str(base);
            uri.push_str(path_and_query);
            Uri::try_from(uri)?
        }
    };
    let mut request = http::Request::new(Full::new(body.clone()));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
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
    fn upstream_url_is_base_plus_path_and_query() {
        let base = "http://127.0.0.1:8082/";
        let target = Target::parse(base);
        for t in [target.as_ref(), None] {
            let r = upstream_request(
                &Method::GET,
                (t, base),
                (None, "/api/v1/storage/x?limit=5"),
                HeaderMap::new(),
                &Bytes::new(),
            )
            .expect("valid");
            assert_eq!(r.uri(), "http://127.0.0.1:8082/api/v1/storage/x?limit=5");
        }
        assert!(
            upstream_request(
                &Method::GET,
                (None, "not a url"),
                (None, "/x"),
                HeaderMap::new(),
                &Bytes::new()
            )
            .is_err()
        );
    }
}
