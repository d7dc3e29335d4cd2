//! A small HTTP/1.1 server's request parsing and responses, as pure code
//! (the kernel image's server uses it; tested here): a request is read up
//! to its blank line (at most 8 KiB of headers: more is 431), its request
//! line and `Content-Length` parsed (anything malformed is 400, a body
//! over 1 MiB 413), its body read; connections stay open unless the client
//! says `Connection: close` (or speaks HTTP/1.0).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8192;
/// Largest body accepted (`POST /echo`).
pub const MAX_BODY: usize = 1 << 20;

/// A parsed request.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The target, from its `/`.
    pub path: String,
    /// Whether the connection closes after the answer.
    pub close: bool,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// What the bytes so far amount to.
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A whole request, and how many bytes it took.
    Request(Request, usize),
    /// A bad request: answer with this status and close.
    Error(u16, &'static str),
}

/// Parses one request from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD { Parsed::Error(431, "Request Header Fields Too Large") } else { Parsed::Incomplete };
    };
    if end > MAX_HEAD {
        return Parsed::Error(431, "Request Header Fields Too Large");
    }
    let Ok(head) = core::str::from_utf8(&buf[..end]) else { return Parsed::Error(400, "Bad Request") };
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(path), Some(version), None) = (first.next(), first.next(), first.next(), first.next()) else {
        return Parsed::Error(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !path.starts_with('/') {
        return Parsed::Error(400, "Bad Request");
    }
    let mut length = 0usize;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return Parsed::Error(400, "Bad Request") };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(n) if n <= MAX_BODY => length = n,
                Ok(_) => return Parsed::Error(413, "Content Too Large"),
                Err(_) => return Parsed::Error(400, "Bad Request"),
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let start = end + 4;
    if buf.len() < start + length {
        return Parsed::Incomplete;
    }
    let request = Request { method: method.into(), path: path.into(), close, body: buf[start..start + length].to_vec() };
    Parsed::Request(request, start + length)
}

/// A whole response.
pub fn response(status: u16, reason: &str, kind: &str, body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: {}\r\nServer: odonata\r\n\r\n",
        body.len(),
        if close { "close" } else { "keep-alive" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_a_body_parses_whole_and_only_once_complete() {
        let raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET";
        assert!(matches!(parse(&raw[..30]), Parsed::Incomplete));
        assert!(matches!(parse(&raw[..raw.len() - 5]), Parsed::Incomplete));
        let Parsed::Request(r, used) = parse(raw) else { panic!("not parsed") };
        assert_eq!((r.method.as_str(), r.path.as_str(), r.close, &r.body[..]), ("POST", "/echo", false, &b"hello"[..]));
        assert_eq!(&raw[used..], b"GET");
    }

    #[test]
    fn connection_close_and_http_1_0_close() {
        let Parsed::Request(r, _) = parse(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n") else { panic!() };
        assert!(r.close);
        let Parsed::Request(r, _) = parse(b"GET / HTTP/1.0\r\n\r\n") else { panic!() };
        assert!(r.close);
    }

    #[test]
    fn malformed_and_oversized_requests_get_their_status() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"\xff\xfe / HTTP/1.1\r\n\r\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Error(400, _)), "{:?}", core::str::from_utf8(bad));
        }
        let huge = alloc::format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(parse(huge.as_bytes()), Parsed::Error(431, _)));
        let big = alloc::format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert!(matches!(parse(big.as_bytes()), Parsed::Error(413, _)));
    }

    #[test]
    fn a_response_carries_length_and_connection() {
        let r = response(200, "OK", "text/plain", b"hi", false);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\nServer: odonata\r\n\r\nhi"
        );
    }
}
