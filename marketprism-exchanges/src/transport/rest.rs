//! REST client of one venue: base URL, weight budget, rate-limit answers.

use std::{sync::Arc, time::Duration};

use crate::{ExchangeError, RestRequest, transport::WeightBudget};

/// GETs REST endpoints of one venue through its [`WeightBudget`].
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("marketprism/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
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
        let http_err = |e: reqwest::Error| ExchangeError::Http {
            url: url.clone(),
            status: e.status().map(|s| s.as_u16()),
            source: Some(Box::new(e)),
        };
        let response = self.http.get(&url).send().await.map_err(http_err)?;
        let status = response.status();
        let headers = response.headers();
        if let Some(used) = headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
        {
            self.budget.observe_used(used);
        }
        if status.as_u16() == 429 || status.as_u16() == 418 {
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
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
        let body = response.text().await.map_err(http_err)?;
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
