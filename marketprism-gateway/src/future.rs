//! The response future shared by the gateway's middleware: either an immediate rejection
//! (401, 403, 429) or the inner service's future.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::response::Response;
use pin_project_lite::pin_project;

pin_project! {
    /// Future of [`AuthService`](crate::auth::AuthService) and
    /// [`RateLimitService`](crate::ratelimit::RateLimitService).
    #[project = ProjFuture]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = ProjKind]
    enum Kind<F> {
        Rejected { response: Option<Response> },
        Inner { #[pin] future: F },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn rejected(response: Response) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            ProjKind::Rejected { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
            ProjKind::Inner { future } => future.poll(cx),
        }
    }
}
