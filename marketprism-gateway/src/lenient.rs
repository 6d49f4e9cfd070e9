//! A listener that percent-encodes the characters a strict HTTP parser refuses in a request
//! target (`<`, `>`, `"`, `{`, `}`, `|`, `\`, `^`, `` ` ``), so that
//! `GET /ws/v1/stream?subjects=trade.>` from a client that does not encode works like
//! `subjects=trade.%3E` instead of an empty 400 from the parser, which no route could
//! explain. Only the first request line of a connection is rewritten (WebSocket clients
//! open a fresh connection); later requests on a kept-alive connection pass unchanged.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{extract::connect_info::Connected, serve::IncomingStream};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// The peer address of a [`LenientListener`] connection (axum's `ConnectInfo` source).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, LenientListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, LenientListener>) -> Self {
        *stream.remote_addr()
    }
}

/// A TCP listener whose connections encode their first request target (see the module).
pub(crate) struct LenientListener(pub(crate) TcpListener);

impl axum::serve::Listener for LenientListener {
    type Io = EncodeTarget<TcpStream>;
    type Addr = PeerAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        // Nagle off: a WebSocket frame of market data must not wait for the client's
        // delayed ACK of the previous one (tens of milliseconds on Linux).
        let _ = io.set_nodelay(true);
        (EncodeTarget::new(io), PeerAddr(addr))
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr().map(PeerAddr)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Method(usize),
    Target,
    Done,
}

/// Wraps a connection's read side; see the module.
pub(crate) struct EncodeTarget<IO> {
    inner: IO,
    state: State,
    pending: Vec<u8>,
    pos: usize,
}

impl<IO> EncodeTarget<IO> {
    fn new(inner: IO) -> Self {
        EncodeTarget {
            inner,
            state: State::Method(0),
            pending: Vec::new(),
            pos: 0,
        }
    }

    fn push(&mut self, b: u8) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        self.state = match self.state {
            State::Method(_) if b == b' ' => State::Target,
            // Not an HTTP request line: pass everything through.
            State::Method(n) if n > 16 || !b.is_ascii_alphabetic() => State::Done,
            State::Method(n) => State::Method(n + 1),
            State::Target if matches!(b, b' ' | b'\r' | b'\n') => State::Done,
            s => s,
        };
        if self.state == State::Target
            && matches!(
                b,
                b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`'
            )
        {
            self.pending.extend_from_slice(&[
                b'%',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            self.pending.push(b);
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for EncodeTarget<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos == this.pending.len() {
            if this.state == State::Done {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut raw = [0u8; 1024];
            let mut rb = ReadBuf::new(&mut raw);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            this.pending.clear();
            this.pos = 0;
            for &b in rb.filled() {
                this.push(b);
            }
        }
        let n = (this.pending.len() - this.pos).min(buf.remaining());
        buf.put_slice(&this.pending[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for EncodeTarget<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn encoded(input: &[u8]) -> String {
        let mut r = EncodeTarget::new(input);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.expect("read");
        String::from_utf8(out).expect("utf8")
    }

    #[tokio::test]
    async fn encodes_only_the_first_target() {
        assert_eq!(
            encoded(b"GET /ws/v1/stream?subjects=trade.> HTTP/1.1\r\nX: a>b\r\n\r\n").await,
            "GET /ws/v1/stream?subjects=trade.%3E HTTP/1.1\r\nX: a>b\r\n\r\n"
        );
        assert_eq!(encoded(b"\x16\x03>").await, "\x16\x03>");
    }

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let mut listener = LenientListener(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
        let addr = axum::serve::Listener::local_addr(&listener)
            .expect("addr")
            .0;
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (io, _) = axum::serve::Listener::accept(&mut listener).await;
        assert!(io.inner.nodelay().expect("TCP_NODELAY"));
    }
}
