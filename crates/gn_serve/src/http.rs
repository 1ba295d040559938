//! HTTP/1.1 for the served API: a request parser with hard limits and a response writer.
//!
//! Parsing works on a byte buffer ([`parse_request`], [`parse_head`]: `Ok(None)` = need more
//! bytes) or on any [`Read`] ([`RequestReader`], which keeps pipelined bytes for the next
//! request). Limits are checked on partial input too, so a client cannot make the server buffer
//! more than [`Limits`] allows before it answers 414/431/413. Request bodies need a
//! `Content-Length`; chunked request bodies are refused (411), other transfer codings too (501).
//! After any [`ParseError`] the framing is unknown: answer `status()` and close the connection.
//!
//! Writing: [`write_response`] for a body in memory (Content-Length), [`start_stream`] for a
//! streamed body ([`ChunkedWriter`]: chunked transfer encoding for HTTP/1.1, close-delimited for
//! HTTP/1.0). Every response carries `Date` and an explicit `Connection` header.

use crate::error::ServeError;
use std::io::{self, Read, Write};
use std::time::SystemTime;

/// Hard limits on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version), in bytes: beyond it, 414.
    pub max_request_line: usize,
    /// Most header fields: beyond it, 431.
    pub max_headers: usize,
    /// Largest header section (every field line and the empty line), in bytes: beyond it, 431.
    pub max_header_bytes: usize,
    /// Largest request body (`Content-Length`), in bytes: beyond it, 413.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed request line: {0}")]
    BadRequestLine(&'static str),
    #[error("the request line is longer than {0} bytes")]
    RequestLineTooLong(usize),
    #[error("HTTP version {0:?} is not supported (use HTTP/1.1 or HTTP/1.0)")]
    VersionNotSupported(String),
    #[error("malformed header field: {0}")]
    BadHeader(String),
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("the header section is larger than {0} bytes")]
    HeadersTooLarge(usize),
    #[error("invalid Content-Length {0:?}")]
    BadContentLength(String),
    #[error("the request body ({length} bytes) is larger than the {limit} bytes accepted")]
    BodyTooLarge { length: u64, limit: usize },
    #[error("chunked request bodies are not accepted: send the body with a Content-Length")]
    ChunkedBody,
    #[error("transfer coding {0:?} is not implemented")]
    UnsupportedTransferCoding(String),
    #[error("an HTTP/1.1 request needs exactly one Host header")]
    BadHost,
    #[error("invalid percent-encoding in the {0}")]
    BadPercentEncoding(&'static str),
    #[error("the {0} is not valid UTF-8 once percent-decoded")]
    InvalidUtf8(&'static str),
}

impl ParseError {
    /// The status to answer before closing the connection.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::RequestLineTooLong(_) => 414,
            ParseError::VersionNotSupported(_) => 505,
            ParseError::TooManyHeaders(_) | ParseError::HeadersTooLarge(_) => 431,
            ParseError::BodyTooLarge { .. } => 413,
            ParseError::ChunkedBody => 411,
            ParseError::UnsupportedTransferCoding(_) => 501,
            _ => 400,
        }
    }
}

impl From<ParseError> for ServeError {
    fn from(e: ParseError) -> ServeError {
        ServeError::new(e.status(), e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other(String),
}

impl Method {
    fn from_token(t: &str) -> Method {
        match t {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub version: Version,
    /// The request target as received (for the access log).
    pub target: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The query string as received, without `?`.
    pub raw_query: String,
    /// The query pairs, decoded (`+` is a space), in order, repeated keys kept.
    pub query: Vec<(String, String)>,
    /// Header fields in order, names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn connection_has(req: &Request, token: &str) -> bool {
    req.header_values("connection")
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Request {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    pub fn header_values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter (Flask's `request.args.get`).
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A cookie of the `Cookie` header(s).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header_values("cookie")
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().trim_matches('"'))
    }

    /// Whether the connection stays open after the reply: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !connection_has(self, "close"),
            Version::Http10 => connection_has(self, "keep-alive") && !connection_has(self, "close"),
        }
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request: send `100 Continue` before reading the body.
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .header("expect")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }
}

/// A request head and the framing of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHead {
    /// The request, its body still empty.
    pub request: Request,
    /// Bytes of the head, from the start of the buffer (leading empty lines included).
    pub head_len: usize,
    /// Bytes of the body that follow the head.
    pub body_len: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict percent-decoding: a `%` must be followed by two hex digits; the result must be UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool, what: &'static str) -> Result<String, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex))
                else {
                    return Err(ParseError::BadPercentEncoding(what));
                };
                out.push(h << 4 | l);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ParseError::InvalidUtf8(what))
}

/// Decodes an `application/x-www-form-urlencoded` query string strictly.
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((
            percent_decode(k, true, "query string")?,
            percent_decode(v, true, "query string")?,
        ));
    }
    Ok(pairs)
}

fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..].iter().position(|&b| b == b'\n').map(|p| from + p)
}

/// The line `buf[start..lf]` without its CR.
fn line(buf: &[u8], start: usize, lf: usize) -> &[u8] {
    let l = &buf[start..lf];
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn parse_request_line(l: &[u8]) -> Result<(Method, Version, String), ParseError> {
    let text = std::str::from_utf8(l).map_err(|_| ParseError::BadRequestLine("not ASCII"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequestLine("expected METHOD SP target SP HTTP-version"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(ParseError::BadRequestLine("invalid method"));
    }
    if target.is_empty() || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ParseError::BadRequestLine("invalid request target"));
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        v => {
            let digits = v.strip_prefix("HTTP/").map(str::as_bytes);
            return match digits {
                Some([a, b'.', b]) if a.is_ascii_digit() && b.is_ascii_digit() => {
                    Err(ParseError::VersionNotSupported(v.to_string()))
                }
                Some([a]) if a.is_ascii_digit() => Err(ParseError::VersionNotSupported(v.to_string())),
                _ => Err(ParseError::BadRequestLine("invalid HTTP version")),
            };
        }
    };
    Ok((Method::from_token(method), version, target.to_string()))
}

/// Splits a request target into (path, query), origin-form or absolute-form.
fn split_target(target: &str) -> Result<(&str, &str), ParseError> {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let origin = if target.starts_with('/') || target == "*" {
        target
    } else {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        let rest = if lower.starts_with("http://") {
            &target[7..]
        } else if lower.starts_with("https://") {
            &target[8..]
        } else {
            return Err(ParseError::BadRequestLine("invalid request target"));
        };
        match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            Some(i) => return Ok(("/", &rest[i + 1..])),
            None => "/",
        }
    };
    Ok(origin.split_once('?').unwrap_or((origin, "")))
}

/// Parses a request head from the start of `buf`. `Ok(None)`: the head is not complete yet (and
/// within the limits so far).
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<ParsedHead>, ParseError> {
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let mut start = 0;
    while start < buf.len() && (buf[start] == b'\n' || buf[start] == b'\r') {
        start += 1;
        if start > limits.max_request_line {
            return Err(ParseError::BadRequestLine("too many empty lines"));
        }
    }
    let Some(lf) = find_lf(buf, start) else {
        if buf.len() - start > limits.max_request_line {
            return Err(ParseError::RequestLineTooLong(limits.max_request_line));
        }
        return Ok(None);
    };
    if lf - start > limits.max_request_line {
        return Err(ParseError::RequestLineTooLong(limits.max_request_line));
    }
    let (method, version, target) = parse_request_line(line(buf, start, lf))?;
    let headers_start = lf + 1;
    let mut pos = headers_start;
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let Some(lf) = find_lf(buf, pos) else {
            if buf.len() - headers_start > limits.max_header_bytes {
                return Err(ParseError::HeadersTooLarge(limits.max_header_bytes));
            }
            return Ok(None);
        };
        if lf + 1 - headers_start > limits.max_header_bytes {
            return Err(ParseError::HeadersTooLarge(limits.max_header_bytes));
        }
        let l = line(buf, pos, lf);
        pos = lf + 1;
        if l.is_empty() {
            break;
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders(limits.max_headers));
        }
        if l[0] == b' ' || l[0] == b'\t' {
            return Err(ParseError::BadHeader("obsolete line folding".into()));
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            return Err(ParseError::BadHeader("no colon".into()));
        };
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().copied().all(is_tchar) {
            return Err(ParseError::BadHeader("invalid field name".into()));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ParseError::BadHeader("control character in a field value".into()));
        }
        let value = std::str::from_utf8(value).map_err(|_| ParseError::InvalidUtf8("header field value"))?;
        // Names are tchar-only, hence ASCII.
        let name = String::from_utf8_lossy(name).into_owned();
        headers.push((name, value.trim_matches([' ', '\t']).to_string()));
    }
    let (raw_path, raw_query) = split_target(&target)?;
    let path = percent_decode(raw_path, false, "path")?;
    let query = decode_query(raw_query)?;
    let request = Request {
        method,
        version,
        path,
        raw_query: raw_query.to_string(),
        query,
        target,
        headers,
        body: Vec::new(),
    };
    let hosts = request.header_values("host").count();
    if hosts > 1 || (version == Version::Http11 && hosts == 0) {
        return Err(ParseError::BadHost);
    }
    if let Some(te) = request.header_values("transfer-encoding").last() {
        let last = te.rsplit(',').next().unwrap_or("").trim();
        return Err(if last.eq_ignore_ascii_case("chunked") {
            ParseError::ChunkedBody
        } else {
            ParseError::UnsupportedTransferCoding(te.to_string())
        });
    }
    let mut length: Option<u64> = None;
    for v in request.header_values("content-length").flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadContentLength(v.to_string()));
        }
        let n = v.parse::<u64>().unwrap_or(u64::MAX);
        if length.is_some_and(|l| l != n) {
            return Err(ParseError::BadContentLength(v.to_string()));
        }
        length = Some(n);
    }
    let length = length.unwrap_or(0);
    if length > limits.max_body as u64 {
        return Err(ParseError::BodyTooLarge {
            length,
            limit: limits.max_body,
        });
    }
    Ok(Some(ParsedHead {
        request,
        head_len: pos,
        body_len: length as usize,
    }))
}

/// Parses one whole request from the start of `buf`: the request and the bytes it used (what
/// follows is the next, pipelined request). `Ok(None)`: not complete yet.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<(Request, usize)>, ParseError> {
    let Some(head) = parse_head(buf, limits)? else {
        return Ok(None);
    };
    let end = head.head_len + head.body_len;
    if buf.len() < end {
        return Ok(None);
    }
    let mut request = head.request;
    request.body = buf[head.head_len..end].to_vec();
    Ok(Some((request, end)))
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// A read failed (a socket timeout surfaces as `TimedOut`/`WouldBlock`). `partial`: part of
    /// a request had arrived.
    #[error("reading the request: {error}")]
    Io { error: io::Error, partial: bool },
    #[error("the connection closed in the middle of a request")]
    Truncated,
}

impl ReadError {
    /// The status to answer before closing, if any: the parse error's, 408 for a request that
    /// stalled half-way; none for an idle connection that timed out or a peer that went away.
    pub fn status(&self) -> Option<u16> {
        match self {
            ReadError::Parse(e) => Some(e.status()),
            ReadError::Io { error, partial: true }
                if matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) =>
            {
                Some(408)
            }
            _ => None,
        }
    }
}

/// Reads requests one after the other from a connection, keeping pipelined bytes.
pub struct RequestReader<R> {
    inner: R,
    buf: Vec<u8>,
    limits: Limits,
}

const READ_CHUNK: usize = 8 * 1024;

impl<R: Read> RequestReader<R> {
    pub fn new(inner: R, limits: Limits) -> Self {
        RequestReader {
            inner,
            buf: Vec::new(),
            limits,
        }
    }

    /// Bytes received and not yet consumed (the start of a pipelined request).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn fill(&mut self) -> Result<usize, ReadError> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.inner.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let partial = self.buf.iter().any(|b| !matches!(b, b'\r' | b'\n'));
                    return Err(ReadError::Io { error, partial });
                }
            }
        }
    }

    /// The next request head; `Ok(None)` when the peer closed the connection between requests.
    /// Then call [`Self::read_body`] (after answering `100 Continue` if the request expects it).
    pub fn next_head(&mut self) -> Result<Option<ParsedHead>, ReadError> {
        loop {
            if let Some(mut head) = parse_head(&self.buf, &self.limits)? {
                self.buf.drain(..head.head_len);
                head.head_len = 0;
                return Ok(Some(head));
            }
            if self.fill()? == 0 {
                return if self.buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    Ok(None)
                } else {
                    Err(ReadError::Truncated)
                };
            }
        }
    }

    /// Reads the body announced by `head`.
    pub fn read_body(&mut self, head: ParsedHead) -> Result<Request, ReadError> {
        while self.buf.len() < head.body_len {
            if self.fill()? == 0 {
                return Err(ReadError::Truncated);
            }
        }
        let mut request = head.request;
        request.body = self.buf.drain(..head.body_len).collect();
        Ok(request)
    }

    /// The next whole request; `Ok(None)` when the peer closed the connection between requests.
    pub fn next_request(&mut self) -> Result<Option<Request>, ReadError> {
        match self.next_head()? {
            Some(head) => self.read_body(head).map(Some),
            None => Ok(None),
        }
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `Date` header.
pub fn http_date(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Status and headers of a response (Content-Type among them); framing, `Date` and
/// `Connection` are added by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub fn new(status: u16, content_type: &str) -> ResponseHead {
        ResponseHead {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
        }
    }

    pub fn json(status: u16) -> ResponseHead {
        ResponseHead::new(status, "application/json")
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> ResponseHead {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How the reply goes out on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub version: Version,
    pub keep_alive: bool,
    /// A HEAD request: headers only.
    pub head_only: bool,
}

impl Conn {
    pub fn for_request(req: &Request) -> Conn {
        Conn {
            version: req.version,
            keep_alive: req.keep_alive(),
            head_only: req.method == Method::Head,
        }
    }

    /// For an error answered before a request could be parsed: HTTP/1.1, then close.
    pub fn closing() -> Conn {
        Conn {
            version: Version::Http11,
            keep_alive: false,
            head_only: false,
        }
    }
}

fn write_head<W: Write + ?Sized>(
    out: &mut W,
    head: &ResponseHead,
    framing: Option<(&str, String)>,
    keep_alive: bool,
    date: &str,
) -> io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {} {}\r\n",
        head.status,
        gn_protocol::page::reason_phrase(head.status)
    );
    let fields = head
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(framing.as_ref().map(|(k, v)| (*k, v.as_str())))
        .chain([
            ("Date", date),
            ("Connection", if keep_alive { "keep-alive" } else { "close" }),
        ]);
    for (k, v) in fields {
        if k.is_empty() || !k.bytes().all(is_tchar) || v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to write header field {k:?}"),
            ));
        }
        text.push_str(k);
        text.push_str(": ");
        text.push_str(v);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    out.write_all(text.as_bytes())
}

/// Writes a whole response with a `Content-Length`.
pub fn write_response<W: Write + ?Sized>(
    out: &mut W,
    head: &ResponseHead,
    body: &[u8],
    conn: &Conn,
    date: &str,
) -> io::Result<()> {
    write_head(
        out,
        head,
        Some(("Content-Length", body.len().to_string())),
        conn.keep_alive,
        date,
    )?;
    if !conn.head_only {
        out.write_all(body)?;
    }
    out.flush()
}

/// Writes the head of a response whose body of `length` bytes the caller writes next (a file
/// copied in pieces); for HEAD, write nothing more.
pub fn write_sized_head<W: Write + ?Sized>(
    out: &mut W,
    head: &ResponseHead,
    length: u64,
    conn: &Conn,
    date: &str,
) -> io::Result<()> {
    write_head(
        out,
        head,
        Some(("Content-Length", length.to_string())),
        conn.keep_alive,
        date,
    )
}

/// Writes the head of a streamed response and returns the body writer: chunked for HTTP/1.1,
/// close-delimited (no length, `Connection: close`) for HTTP/1.0.
pub fn start_stream<W: Write>(
    mut out: W,
    head: &ResponseHead,
    conn: &Conn,
    date: &str,
) -> io::Result<ChunkedWriter<W>> {
    let chunked = conn.version == Version::Http11;
    let keep_alive = conn.keep_alive && chunked;
    if chunked {
        write_head(
            &mut out,
            head,
            Some(("Transfer-Encoding", "chunked".into())),
            keep_alive,
            date,
        )?;
    } else {
        // No framing header: the body ends when the connection closes.
        let mut h = head.clone();
        h.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
        write_head(&mut out, &h, None, false, date)?;
    }
    Ok(ChunkedWriter {
        inner: out,
        buf: Vec::with_capacity(CHUNK_SIZE),
        chunked,
        head_only: conn.head_only,
        keep_alive,
        bytes: 0,
    })
}

const CHUNK_SIZE: usize = 32 * 1024;

/// The body writer of a streamed response. Buffers up to 32 KiB per chunk; [`Self::finish`]
/// writes the last chunk. Dropped without `finish` (an error mid-stream), no terminating chunk is
/// written, so the client sees a truncated reply, never a complete-looking one; close the
/// connection then.
pub struct ChunkedWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    chunked: bool,
    head_only: bool,
    keep_alive: bool,
    bytes: u64,
}

impl<W: Write> ChunkedWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if !self.head_only {
            if self.chunked {
                write!(self.inner, "{:x}\r\n", self.buf.len())?;
                self.inner.write_all(&self.buf)?;
                self.inner.write_all(b"\r\n")?;
            } else {
                self.inner.write_all(&self.buf)?;
            }
        }
        self.buf.clear();
        Ok(())
    }

    /// Body bytes written so far (for the access log).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the connection may serve another request after [`Self::finish`].
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Ends the body and returns the connection.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit()?;
        if self.chunked && !self.head_only {
            self.inner.write_all(b"0\r\n\r\n")?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.bytes += data.len() as u64;
        if self.buf.len() >= CHUNK_SIZE {
            self.emit()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::default()
    }

    fn parse(s: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
        parse_request(s, &lim())
    }

    #[test]
    fn well_formed_get() {
        let raw = b"GET /geonature/api/exports/api/1?limit=10&offset=2&nom_cite=Aquila+chrysaetos&x=%C3%A9t%C3%A9 HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nCookie: a=1; token=abc\r\n\r\n";
        let (r, used) = parse(raw).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.path, "/geonature/api/exports/api/1");
        assert_eq!(r.query_value("nom_cite"), Some("Aquila chrysaetos"));
        assert_eq!(r.query_value("x"), Some("été"));
        assert_eq!(r.query.len(), 4);
        assert_eq!(r.header("ACCEPT"), Some("application/json"));
        assert_eq!(r.cookie("token"), Some("abc"));
        assert!(r.keep_alive());
        assert!(r.body.is_empty());
    }

    #[test]
    fn post_with_body_and_pipelining() {
        let raw = b"POST /api/auth/login HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b";
        let (r1, n1) = parse(raw).unwrap().unwrap();
        assert_eq!(r1.body, b"hello");
        let (r2, n2) = parse(&raw[n1..]).unwrap().unwrap();
        assert_eq!(r2.path, "/a");
        assert!(!r2.keep_alive());
        assert_eq!(parse(&raw[n1 + n2..]).unwrap(), None);

        let mut reader = RequestReader::new(&raw[..], lim());
        assert_eq!(reader.next_request().unwrap().unwrap().body, b"hello");
        assert_eq!(reader.next_request().unwrap().unwrap().path, "/a");
        assert!(matches!(reader.next_request(), Err(ReadError::Truncated)));
    }

    #[test]
    fn incomplete_body_and_clean_eof() {
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc").unwrap(),
            None
        );
        let mut reader = RequestReader::new(&b"\r\n"[..], lim());
        assert!(reader.next_request().unwrap().is_none());
        let mut reader = RequestReader::new(
            &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"[..],
            lim(),
        );
        assert!(matches!(reader.next_request(), Err(ReadError::Truncated)));
    }

    /// A reader that hands out one byte at a time, like a slow client.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
            }
        }
    }

    #[test]
    fn trickled_request_and_timeouts() {
        let mut reader = RequestReader::new(Trickle(b"GET /x HTTP/1.0\r\n\r\nGET /y"), lim());
        let r = reader.next_request().unwrap().unwrap();
        assert_eq!((r.path.as_str(), r.keep_alive()), ("/x", false));
        let e = reader.next_request().unwrap_err();
        assert_eq!(e.status(), Some(408), "stalled half-way");
        let mut idle = RequestReader::new(Trickle(b""), lim());
        assert_eq!(
            idle.next_request().unwrap_err().status(),
            None,
            "idle timeout: just close"
        );
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &[u8]| parse(s).unwrap().unwrap().0.keep_alive();
        assert!(ka(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(
            parse(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .unwrap()
                .is_none()
        );
        let head = parse_head(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            &lim(),
        )
        .unwrap()
        .unwrap();
        assert!(head.request.expects_continue());
    }

    #[test]
    fn request_line_limit_even_on_partial_input() {
        let l = Limits {
            max_request_line: 32,
            ..lim()
        };
        let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(40));
        assert_eq!(parse_request(long.as_bytes(), &l).unwrap_err().status(), 414);
        assert_eq!(parse_request(&long.as_bytes()[..36], &l).unwrap_err().status(), 414);
        assert_eq!(parse_request(&long.as_bytes()[..20], &l).unwrap(), None);
    }

    #[test]
    fn header_limits() {
        let l = Limits {
            max_headers: 3,
            max_header_bytes: 100,
            ..lim()
        };
        let many = b"GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert_eq!(parse_request(many, &l).unwrap_err(), ParseError::TooManyHeaders(3));
        let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(200));
        assert_eq!(parse_request(big.as_bytes(), &l).unwrap_err().status(), 431);
        // Partial, no line end yet, already beyond the limit.
        assert_eq!(parse_request(&big.as_bytes()[..150], &l).unwrap_err().status(), 431);
    }

    #[test]
    fn body_limits_and_framing() {
        let l = Limits { max_body: 10, ..lim() };
        let p = |s: &[u8]| parse_request(s, &l);
        assert_eq!(
            p(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            p(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n")
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            p(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_err()
                .status(),
            411
        );
        assert_eq!(
            p(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n")
                .unwrap_err()
                .status(),
            501
        );
        for bad in [
            &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
        ] {
            assert!(matches!(p(bad), Err(ParseError::BadContentLength(_))));
        }
        assert_eq!(
            p(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nok")
                .unwrap()
                .unwrap()
                .0
                .body,
            b"ok"
        );
    }

    #[test]
    fn malformed_lines() {
        for (raw, status) in [
            (&b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n"[..], 400),
            (b"GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET nope HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
            (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX : x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: \xff\r\n\r\n", 400),
        ] {
            assert_eq!(
                parse(raw).map(|_| ()).map_err(|e| e.status()),
                Err(status),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        // Bare LF line ends and leading empty lines are accepted.
        assert_eq!(parse(b"\r\nGET /x HTTP/1.0\n\n").unwrap().unwrap().0.path, "/x");
        // Absolute-form target.
        let (r, _) = parse(b"GET http://host:8791/geonature/api?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.path.as_str(), r.raw_query.as_str()), ("/geonature/api", "x=1"));
    }

    #[test]
    fn invalid_percent_encoding_and_utf8() {
        for (q, e) in [
            ("a=%zz", ParseError::BadPercentEncoding("query string")),
            ("a=%4", ParseError::BadPercentEncoding("query string")),
            ("a=%", ParseError::BadPercentEncoding("query string")),
            ("%C3=1", ParseError::InvalidUtf8("query string")),
            ("a=%ff%fe", ParseError::InvalidUtf8("query string")),
            ("a=%ED%A0%80", ParseError::InvalidUtf8("query string")),
        ] {
            let raw = format!("GET /x?{q} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(parse(raw.as_bytes()).unwrap_err(), e, "{q}");
            assert_eq!(e.status(), 400);
        }
        assert_eq!(
            parse(b"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err(),
            ParseError::BadPercentEncoding("path")
        );
        let (r, _) = parse(b"GET /x?a&b=&&c=%2B%26 HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            r.query,
            [
                ("a".into(), "".into()),
                ("b".into(), "".into()),
                ("c".into(), "+&".into())
            ]
        );
    }

    #[test]
    fn writes_full_response() {
        let mut out = Vec::new();
        let conn = Conn {
            version: Version::Http11,
            keep_alive: true,
            head_only: false,
        };
        write_response(
            &mut out,
            &ResponseHead::json(404),
            b"{}",
            &conn,
            "Thu, 01 Jan 1970 00:00:00 GMT",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\n\r\n{}"
        );
        let mut out = Vec::new();
        let head_only = Conn {
            head_only: true,
            keep_alive: false,
            ..conn
        };
        write_response(&mut out, &ResponseHead::json(200), b"{}", &head_only, "d").unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("Content-Length: 2\r\nDate: d\r\nConnection: close\r\n\r\n"));
        let bad = ResponseHead::json(200).header("Set-Cookie", "a=1\r\nX-Injected: 1");
        assert!(write_response(&mut Vec::new(), &bad, b"", &conn, "d").is_err());
        assert_eq!(http_date(SystemTime::UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn chunked_stream() {
        let conn = Conn {
            version: Version::Http11,
            keep_alive: true,
            head_only: false,
        };
        let mut w = start_stream(Vec::new(), &ResponseHead::json(200), &conn, "d").unwrap();
        w.write_all(b"hello ").unwrap();
        w.flush().unwrap();
        w.write_all(&vec![b'x'; CHUNK_SIZE]).unwrap();
        assert_eq!(w.bytes(), 6 + CHUNK_SIZE as u64);
        assert!(w.keep_alive());
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        assert!(!head.contains("Content-Length"));
        let want = format!(
            "6\r\nhello \r\n{:x}\r\n{}\r\n0\r\n\r\n",
            CHUNK_SIZE,
            "x".repeat(CHUNK_SIZE)
        );
        assert_eq!(body, want);

        // HTTP/1.0: no chunking, the body ends with the connection.
        let old = Conn {
            version: Version::Http10,
            keep_alive: true,
            head_only: false,
        };
        let mut w = start_stream(Vec::new(), &ResponseHead::json(200), &old, "d").unwrap();
        assert!(!w.keep_alive());
        w.write_all(b"abc").unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert!(
            out.contains("Connection: close\r\n\r\nabc") && !out.contains("chunked"),
            "{out}"
        );

        // Dropped mid-stream: no terminating chunk.
        let mut sink = Vec::new();
        {
            let mut w = start_stream(&mut sink, &ResponseHead::json(200), &conn, "d").unwrap();
            w.write_all(b"partial").unwrap();
            w.flush().unwrap();
        }
        assert!(!String::from_utf8(sink).unwrap().ends_with("0\r\n\r\n"));
    }
}
