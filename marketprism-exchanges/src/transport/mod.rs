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
    // Nagle off: a pong or subscribe must not wait for the exchange's delayed ACK.
    let disable_nagle = true;
    let connecting = tokio_tungstenite::connect_async_with_config(url, None, disable_nagle);
    let (ws, _response) = connecting
        .await
        .map_err(|e| crate::ExchangeError::WebSocket {
            url: url.to_owned(),
            source: Box::new(e),
        })?;
    Ok(ws)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[tokio::test]
    async fn websocket_connections_have_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        });
        let ws = super::connect_ws(&format!("ws://{addr}")).await.unwrap();
        let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
            panic!("ws:// is a plain TCP stream");
        };
        assert!(tcp.nodelay().unwrap());
        drop(server.await.unwrap());
    }
}
