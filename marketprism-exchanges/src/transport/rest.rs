//! REST client of one venue: base URL, weight budget, rate-limit answers.

use std::{sync::Arc, time::Duration};

use http_body_util::{BodyExt, Empty};
use hyper::{
    Request,
    body::Bytes,
    header::{HeaderValue, RETRY_AFTER, USER_AGENT},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::{ExchangeError, RestRequest, transport::WeightBudget};

/// Whole-request bound (connect, send, read the body).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP connect bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const USER_AGENT_VALUE: &str = concat!("marketprism/", env!("CARGO_PKG_VERSION"));

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// GETs REST endpoints of one venue through its [`WeightBudget`].
///
/// HTTP/1.1 over hyper's pooled client, TLS by rustls (ring) with the Mozilla root store
/// (`webpki-roots`), like the WebSocket side. Only GETs of JSON bodies are needed, so no
/// redirect, proxy or compression layer is carried.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: HttpClient,
    base: String,
    venue: Arc<str>,
    budget: Arc<WeightBudget>,
}

impl RestClient {
    /// A client for the venue named `venue` (its [`Exchange::name`](crate::Exchange::name),
    /// used in logs, metrics and errors) at `base` (e.g. `https://api.binance.com` or a
    /// simulator URL).
    ///
    /// ```
    /// use marketprism_exchanges::transport::{RestClient, WeightBudget};
    /// use std::sync::Arc;
    /// let client = RestClient::new("binance-spot", "http://127.0.0.1:9000", Arc::new(WeightBudget::new(6000)));
    /// # let _ = client;
    /// ```
    pub fn new(
        venue: impl Into<Arc<str>>,
        base: impl Into<String>,
        budget: Arc<WeightBudget>,
    ) -> Self {
        super::install_crypto_provider();
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let https = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
        {
            Ok(builder) => builder,
            // ring supports the default protocol versions; this is not expected. The process
            // default provider (installed above unless the application chose its own) is
            // the fallback.
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
        }
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new()).build(https);
        RestClient {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            venue: venue.into(),
            budget,
        }
    }

    /// The venue's budget.
    pub fn budget(&self) -> &Arc<WeightBudget> {
        &self.budget
    }

    /// GETs `request` and returns the body. 429/418 block the whole venue's budget for the
    /// answer's `Retry-After` (default 60 s) and return [`ExchangeError::RateLimited`].
    pub async fn get(&self, request: &RestRequest) -> Result<String, ExchangeError> {
        self.budget.acquire(request.weight).await;
        let url = format!("{}{}", self.base, request.path_and_query);
        let http_err = |e: Box<dyn std::error::Error + Send + Sync>| ExchangeError::Http {
            url: url.clone(),
            status: None,
            source: Some(e),
        };
        let request = Request::get(&url)
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .body(Empty::<Bytes>::new())
            .map_err(|e| http_err(Box::new(e)))?;
        let (status, headers, body) = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = self.http.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts.status, parts.headers, body))
        })
        .await
        .map_err(|elapsed| http_err(Box::new(elapsed)))?
        .map_err(http_err)?;
        if let Some(used) = headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
        {
            self.budget.observe_used(used);
        }
        if status.as_u16() == 429 || status.as_u16() == 418 {
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(60), Duration::from_secs);
            self.budget.block_for(retry_after);
            metrics::counter!("marketprism_rest_rate_limited_total",
                "venue" => self.venue.to_string(), "status" => status.as_u16().to_string())
            .increment(1);
            tracing::warn!(venue = %self.venue, %url, status = status.as_u16(), ?retry_after, "rate limited; backing off");
            return Err(ExchangeError::RateLimited {
                venue: self.venue.to_string(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(ExchangeError::Http {
                url,
                status: Some(status.as_u16()),
                source: Some(body.into()),
            });
        }
        Ok(body)
    }
}
