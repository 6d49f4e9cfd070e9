//! The upstream HTTP/1.1 client: hyper's pooled client over a TCP connector (rustls with the
//! platform verifier for `https` upstreams), one deadline per attempt covering the response
//! head *and* the streamed body.
//!
//! hyper is used directly rather than through reqwest: reqwest re-parses every URL with the
//! `url` crate (IDNA included), and runs redirect and retry layers the gateway does not use;
//! together that was about a tenth of the gateway's CPU per proxied request.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    http::{Request, Response},
};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::headers::strip_hop_by_hop;
use crate::{GatewayError, config::ProxyConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The pooled client shared by all requests (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct UpstreamClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Why an attempt failed.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// The deadline passed before the response head arrived; `connect` when it was the
    /// connection that timed out (the request never left the gateway).
    Timeout { connect: bool },
    /// No connection could be made (refused, unreachable, TLS): the request never left the
    /// gateway.
    Connect(BoxError),
    /// The request may have reached the upstream, which failed to answer.
    Failed(BoxError),
}

/// The TLS client configuration for `https` upstreams, built once per process: the platform
/// verifier reads the OS certificate store (hundreds of files), which cost a millisecond for
/// every router built or configuration validated.
fn tls_config() -> Result<rustls::ClientConfig, GatewayError> {
    use hyper_rustls::ConfigBuilderExt as _;
    static TLS: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .try_with_platform_verifier()
        .map(|b| b.with_no_client_auth())
        .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| GatewayError::config(format!("cannot set up TLS for upstreams: {e}")))
}

impl UpstreamClient {
    /// No redirects followed and no system proxy (hyper does neither), `TCP_NODELAY`, a
    /// connect timeout and a bounded idle pool, as the reqwest client this replaces.
    pub(crate) fn new(config: &ProxyConfig) -> Result<Self, GatewayError> {
        let mut http = HttpConnector::new();
        // The TLS wrapper below decides per scheme; the inner connector must accept both.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
        http.set_keepalive(Some(Duration::from_secs(15)));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            // Without a timer idle connections would never be closed.
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(UpstreamClient { inner })
    }

    /// Sends one attempt; the returned response's body fails if it is still streaming at
    /// `deadline`. Hop-by-hop headers are removed from the response.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<Response<Body>, AttemptError> {
        // One timer for the whole attempt: it moves into the body once the head is in.
        let mut sleep = Box::pin(tokio::time::sleep_until(deadline));
        let result = tokio::select! {
            biased;
            result = self.inner.request(request) => result,
            () = &mut sleep => return Err(AttemptError::Timeout { connect: false }),
        };
        match result {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Ok(Response::from_parts(
                    parts,
                    Body::new(DeadlineBody { body, sleep }),
                ))
            }
            Err(e) if e.is_connect() && timed_out(&e) => {
                Err(AttemptError::Timeout { connect: true })
            }
            Err(e) if e.is_connect() => Err(AttemptError::Connect(Box::new(e))),
            Err(e) => Err(AttemptError::Failed(Box::new(e))),
        }
    }
}

/// Whether an I/O timeout is somewhere in the error's source chain (a connect timeout).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
}

pin_project! {
    /// The upstream's response body, failing once the attempt's deadline has passed (the
    /// client then sees the response cut short, as with any upstream failure mid-body).
    struct DeadlineBody {
        #[pin]
        body: Incoming,
        sleep: Pin<Box<Sleep>>,
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        // Data that is already there is passed on without looking at the timer.
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "upstream response body exceeded the proxy timeout",
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
