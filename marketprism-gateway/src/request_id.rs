//! `X-Request-Id` generation: a random UUIDv4 from the thread-local generator.
//!
//! tower-http's `MakeRequestUuid` asks the kernel for randomness on every request: a
//! `getrandom` system call each, one in five of the gateway's system calls per proxied request
//! (the others are the two reads and two writes). rand's thread-local generator is a CSPRNG
//! seeded from the OS that produces its output in user space.

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes a random UUIDv4 (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`) per request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MakeRandomUuid;

impl MakeRequestId for MakeRandomUuid {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let text = uuid_v4(rand::random());
        HeaderValue::from_bytes(&text).ok().map(RequestId::new)
    }
}

/// The UUIDv4 text of 128 random bits: version nibble set to 4, variant bits to `10`.
fn uuid_v4(random: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = (random & !(0xf << 76)) | (0x4 << 76);
    let bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let mut out = [b'-'; 36];
    let mut pos = 0;
    for nibble in 0..32 {
        if matches!(pos, 8 | 13 | 18 | 23) {
            pos += 1;
        }
        out[pos] = HEX[((bits >> (124 - 4 * nibble)) & 0xf) as usize];
        pos += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_version_4_uuid() {
        assert_eq!(&uuid_v4(0), b"00000000-0000-4000-8000-000000000000");
        assert_eq!(&uuid_v4(u128::MAX), b"ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(
            &uuid_v4(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            b"01234567-89ab-4def-8123-456789abcdef"
        );
    }

    #[test]
    fn ids_differ() {
        let mut make = MakeRandomUuid;
        let req = Request::new(());
        let a = make.make_request_id(&req).expect("id");
        let b = make.make_request_id(&req).expect("id");
        assert_ne!(a.header_value(), b.header_value());
        assert_eq!(a.header_value().len(), 36);
    }
}
