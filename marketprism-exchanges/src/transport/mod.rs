//! WebSocket and REST transport: TLS set-up, the REST client with its weight budget, and
//! WebSocket connect.

mod budget;
mod rest;

pub use budget::WeightBudget;
pub use rest::RestClient;

/// Installs rustls' `ring` crypto provider as the process default, once. Both the WebSocket
/// and the REST client use it; an application that installed another provider keeps its own.
pub(crate) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Connects a WebSocket (plain `ws://` or TLS `wss://`).
pub(crate) async fn connect_ws(
    url: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    crate::ExchangeError,
> {
    install_crypto_provider();
    let (ws, _response) = tokio_tungstenite::connect_async(url).await.map_err(|e| {
        crate::ExchangeError::WebSocket {
            url: url.to_owned(),
            source: Box::new(e),
        }
    })?;
    Ok(ws)
}
