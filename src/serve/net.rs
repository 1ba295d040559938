//! The network side of an API worker: a listener thread and one thread per connection. None of
//! these threads touches PostgreSQL (pgrx's thread check would stop them, and PostgreSQL is not
//! thread-safe): they accept, read and parse requests under limits and deadlines, hand each
//! whole request to the main thread through a channel (waking it through a socket pair its
//! latch wait watches), and wait until it has answered. The main thread writes the reply on the
//! connection itself (see [`super::reply`]), so a large reply streams from the cursor to the
//! socket without a copy in between.

use gn_serve::http::{write_response, Conn, Limits, ParsedHead, ReadError, RequestReader, ResponseHead};
use gn_serve::respond::{error_body, error_head};
use gn_serve::{Request, ServeError};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What the network threads need to know (copied from the settings at start and on reload).
#[derive(Debug, Clone, Copy)]
pub struct NetSettings {
    pub limits: Limits,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// One request for the main thread.
pub struct Job {
    pub request: Request,
    /// The connection, for the reply.
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Answer `true` to keep the connection open for the next request. Dropping it closes.
    pub done: SyncSender<bool>,
}

/// Requests waiting for the main thread, at most; beyond, 503.
const QUEUE: usize = 256;
/// Stack of a connection thread (parsing needs little).
const CONNECTION_STACK: usize = 256 * 1024;

pub struct Network {
    pub jobs: Receiver<Job>,
    /// Read by the network threads for every connection and request: SIGHUP updates it.
    settings: Arc<RwLock<NetSettings>>,
    /// Readable when requests wait: watched by the main thread's latch wait.
    wake_reader: UnixStream,
    listener_alive: Arc<AtomicBool>,
}

impl Network {
    pub fn wake_fd(&self) -> i32 {
        self.wake_reader.as_raw_fd()
    }

    /// Empties the wake-up socket (the channel says how many requests wait).
    pub fn drain_wakeups(&self) {
        let mut buf = [0u8; 256];
        while let Ok(n) = (&self.wake_reader).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
    }

    /// New limits and timeouts for the connections and requests to come (after SIGHUP).
    pub fn update_settings(&self, settings: NetSettings) {
        if let Ok(mut s) = self.settings.write() {
            *s = settings;
        }
    }

    /// False once the listener thread is gone (it never ends otherwise): restart the worker.
    pub fn listener_alive(&self) -> bool {
        self.listener_alive.load(Ordering::Relaxed)
    }
}

/// Binds `address` with SO_REUSEPORT (the API workers share the port: the kernel spreads new
/// connections over them) and starts the listener thread.
pub fn start(address: SocketAddr, settings: NetSettings) -> io::Result<Network> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(address), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    let listener: TcpListener = socket.into();
    let (wake_reader, wake_writer) = UnixStream::pair()?;
    wake_reader.set_nonblocking(true)?;
    wake_writer.set_nonblocking(true)?;
    let (jobs_tx, jobs) = sync_channel::<Job>(QUEUE);
    let listener_alive = Arc::new(AtomicBool::new(true));
    let alive = listener_alive.clone();
    let open = Arc::new(AtomicUsize::new(0));
    let wake = Arc::new(wake_writer);
    let shared = Arc::new(RwLock::new(settings));
    let current = shared.clone();
    crate::ffi::spawn_quiet("gn_flux api listener", move || {
        accept_loop(&listener, &current, &jobs_tx, &wake, &open);
        alive.store(false, Ordering::Relaxed);
    })?;
    Ok(Network {
        jobs,
        settings: shared,
        wake_reader,
        listener_alive,
    })
}

fn read_settings(shared: &RwLock<NetSettings>) -> NetSettings {
    *shared.read().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<RwLock<NetSettings>>,
    jobs: &SyncSender<Job>,
    wake: &Arc<UnixStream>,
    open: &Arc<AtomicUsize>,
) {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            // Out of descriptors or a connection reset before accept: wait a little, go on.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let settings = read_settings(shared);
        if open.load(Ordering::Relaxed) >= settings.max_connections {
            refuse(
                stream,
                503,
                "too many connections to this gn_flux API worker; retry later",
            );
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (jobs, wake, counter, shared) = (jobs.clone(), wake.clone(), open.clone(), shared.clone());
        // Threads started here inherit the listener thread's mask: every signal blocked.
        let spawned = std::thread::Builder::new()
            .name("gn_flux api connection".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                serve_connection(stream, peer, &shared, &jobs, &wake);
                counter.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Answers an error and closes (with a short write timeout: the client may not read).
fn refuse(mut stream: TcpStream, status: u16, message: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let err = ServeError::new(status, message);
    let mut head = error_head(&err);
    if status == 503 {
        head = head.header("Retry-After", "1");
    }
    write_error(&mut stream, &head, &err);
}

fn write_error(stream: &mut TcpStream, head: &ResponseHead, err: &ServeError) {
    let body = error_body(err, "-");
    let _ = write_response(
        stream,
        head,
        body.as_bytes(),
        &Conn::closing(),
        &super::reply::now_http_date(),
    );
}

/// Reads with a deadline for the whole request (a slow-loris client sending a byte at a time
/// cannot keep a request open longer than the read timeout).
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &RwLock<NetSettings>,
    jobs: &SyncSender<Job>,
    wake: &UnixStream,
) {
    let _ = stream.set_nodelay(true);
    let settings = read_settings(shared);
    let Ok(reading) = stream.try_clone() else { return };
    let mut reader = RequestReader::new(
        DeadlineStream {
            stream: reading,
            deadline: Instant::now(),
        },
        settings.limits,
    );
    loop {
        let settings = read_settings(shared);
        // Idle: wait for the first byte of the next request (unless one is already buffered).
        if reader.buffered().is_empty() {
            let waiting = reader.get_mut();
            if waiting.stream.set_read_timeout(Some(settings.idle_timeout)).is_err() {
                return;
            }
            let mut probe = [0u8; 1];
            match waiting.stream.peek(&mut probe) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        reader.get_mut().deadline = Instant::now() + settings.read_timeout;
        let request = match read_request(&mut reader, &stream) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                if let Some(status) = e.status() {
                    let err = match status {
                        408 => ServeError::new(408, "the request did not arrive in time"),
                        _ => ServeError::new(status, e.to_string()),
                    };
                    let mut s = &stream;
                    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                    let body = error_body(&err, "-");
                    let _ = write_response(
                        &mut s,
                        &error_head(&err),
                        body.as_bytes(),
                        &Conn::closing(),
                        &super::reply::now_http_date(),
                    );
                }
                return;
            }
        };
        let Ok(reply_stream) = stream.try_clone() else { return };
        let (done, answered) = sync_channel::<bool>(1);
        let job = Job {
            request,
            stream: reply_stream,
            peer,
            done,
        };
        match jobs.try_send(job) {
            Ok(()) => {
                let _ = (&*wake).write(&[1]);
            }
            Err(TrySendError::Full(job)) => {
                refuse(job.stream, 503, "this gn_flux API worker is busy; retry later");
                return;
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
        match answered.recv() {
            Ok(true) => continue,
            _ => return,
        }
    }
}

fn read_request(reader: &mut RequestReader<DeadlineStream>, stream: &TcpStream) -> Result<Option<Request>, ReadError> {
    let Some(head): Option<ParsedHead> = reader.next_head()? else {
        return Ok(None);
    };
    if head.request.expects_continue() && head.body_len > 0 {
        let mut s = stream;
        let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    reader.read_body(head).map(Some)
}
