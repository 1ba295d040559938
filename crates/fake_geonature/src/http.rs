//! A small HTTP/1.1 server (thread per connection, keep-alive, chunked streaming) with the hooks
//! fault injection needs: delayed answers and bodies cut short. Requests are parsed by `httparse`.

use std::io::{self, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string, percent-decoding left to handlers.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// `path?query` as received.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

pub type StreamFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

pub enum Body {
    Full(Vec<u8>),
    /// Written with chunked transfer encoding as it is produced.
    Stream(StreamFn),
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Wait this long before answering (fault injection).
    pub delay: Option<Duration>,
    /// Send only half of the body, then close (fault injection).
    pub truncate: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Full(body),
            delay: None,
            truncate: false,
        }
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, "application/json", body.into())
    }

    pub fn stream(status: u16, content_type: &str, f: StreamFn) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Stream(f),
            delay: None,
            truncate: false,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// A running server; stops (and closes its connections) when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `host:port` (port 0 = any free port) and serves `handler` on a background thread.
    pub fn bind(host: &str, port: u16, handler: Handler) -> io::Result<HttpServer> {
        let listener = TcpListener::bind((host, port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fake-geonature-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let handler = handler.clone();
                    let stop = stop2.clone();
                    let _ = std::thread::Builder::new()
                        .name("fake-geonature-conn".into())
                        .spawn(move || serve_connection(stream, handler, stop));
                }
            })?;
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shutdown(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve_connection(stream: TcpStream, handler: Handler, stop: Arc<AtomicBool>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut reader = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    loop {
        let req = match read_request(&mut reader, &mut buf, &stop) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(status) => {
                let mut w = BufWriter::new(&stream);
                let _ = write_head(
                    &mut w,
                    status,
                    &[("Content-Type".into(), "text/plain".into())],
                    Some(0),
                    false,
                );
                let _ = w.flush();
                break;
            }
        };
        let keep_alive = req.keep_alive;
        let resp = handler(req);
        if let Some(d) = resp.delay {
            let until = Instant::now() + d;
            while Instant::now() < until {
                if stop.load(Ordering::SeqCst) {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
            }
        }
        match write_response(&stream, resp, keep_alive) {
            Ok(true) if keep_alive && !stop.load(Ordering::SeqCst) => continue,
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads one request; `Ok(None)` when the peer closed, the idle timeout passed or the server stops.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> Result<Option<Request>, u16> {
    let idle_since = Instant::now();
    let mut chunk = [0u8; 16 * 1024];
    let head_len = loop {
        if let Some(pos) = find_head_end(buf) {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        if stop.load(Ordering::SeqCst) || idle_since.elapsed() > IDLE_TIMEOUT {
            return Ok(None);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(_) => return Ok(None),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(400),
    }
    let method = parsed.method.unwrap_or("GET").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let version = parsed.version.unwrap_or(1);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Err(411);
    }
    let content_length: usize = match header("content-length") {
        Some(v) => v.trim().parse().map_err(|_| 400u16)?,
        None => 0,
    };
    if content_length > MAX_BODY {
        return Err(413);
    }
    buf.drain(..head_len);
    while buf.len() < content_length {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(_) => return Ok(None),
        }
    }
    let body: Vec<u8> = buf.drain(..content_length).collect();
    let connection = header("connection").unwrap_or_default().to_ascii_lowercase();
    let keep_alive = if version == 0 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
        keep_alive,
    }))
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn write_head<W: Write>(
    w: &mut W,
    status: u16,
    headers: &[(String, String)],
    length: Option<usize>,
    keep_alive: bool,
) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {} {}\r\n",
        status,
        gn_protocol::page::reason_phrase(status)
    )?;
    for (k, v) in headers {
        write!(w, "{k}: {v}\r\n")?;
    }
    match length {
        Some(n) => write!(w, "Content-Length: {n}\r\n")?,
        None => w.write_all(b"Transfer-Encoding: chunked\r\n")?,
    }
    w.write_all(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    })
}

/// Writes a response; `Ok(true)` when the connection can serve another request.
fn write_response(stream: &TcpStream, resp: Response, keep_alive: bool) -> io::Result<bool> {
    let mut w = BufWriter::with_capacity(64 * 1024, stream);
    match resp.body {
        Body::Full(body) if resp.truncate => {
            write_head(&mut w, resp.status, &resp.headers, Some(body.len()), false)?;
            w.write_all(&body[..body.len() / 2])?;
            w.flush()?;
            Ok(false)
        }
        Body::Full(body) => {
            write_head(&mut w, resp.status, &resp.headers, Some(body.len()), keep_alive)?;
            w.write_all(&body)?;
            w.flush()?;
            Ok(true)
        }
        Body::Stream(f) => {
            write_head(&mut w, resp.status, &resp.headers, None, keep_alive)?;
            let mut chunked = ChunkedWriter {
                inner: w,
                buf: Vec::with_capacity(64 * 1024),
            };
            f(&mut chunked)?;
            chunked.finish()?;
            Ok(true)
        }
    }
}

/// Frames what is written into HTTP chunks of up to 64 KiB.
struct ChunkedWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> ChunkedWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            write!(self.inner, "{:x}\r\n", self.buf.len())?;
            self.inner.write_all(&self.buf)?;
            self.inner.write_all(b"\r\n")?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.emit()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}
