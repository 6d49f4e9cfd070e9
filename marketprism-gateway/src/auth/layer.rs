//! [`AuthLayer`] and [`AuthService`].

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};
use tower::{Layer, Service};

use super::{Authenticator, PrincipalSlot};
pub use crate::future::ResponseFuture as AuthFuture;

/// Authenticates every request and enforces the route's role (see the [module](super) docs).
///
/// ```
/// use marketprism_gateway::{auth::{AuthLayer, Authenticator}, config::GatewayConfig, Role};
/// use axum::{Router, routing::get};
/// let config = GatewayConfig::default().api_key("bot", "k", &[Role::Read]);
/// let layer = AuthLayer::new(Authenticator::new(&config.auth)?);
/// let app: Router = Router::new().route("/x", get(|| async { "ok" })).layer(layer);
/// # let _ = app;
/// # Ok::<_, marketprism_gateway::GatewayError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer using `auth`.
    pub fn new(auth: Authenticator) -> Self {
        AuthLayer {
            auth: Arc::new(auth),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: Arc::clone(&self.auth),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S> Service<Request> for AuthService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self
            .auth
            .check(req.method(), req.uri().path(), req.headers())
        {
            Ok(principal) => {
                if let Some(slot) = req.extensions().get::<PrincipalSlot>() {
                    slot.set(&principal.name);
                }
                req.extensions_mut().insert(principal);
                AuthFuture::inner(self.inner.call(req))
            }
            Err(e) => AuthFuture::rejected(e.into_response()),
        }
    }
}
