//! Writing a reply on the connection, from the worker's main thread: in short timed slices, so
//! that between slices the worker serves interrupts (SIGTERM, cancels, barriers) and drops a
//! client that has taken nothing for `gn_flux.api_send_timeout`.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

/// One wait for the socket to take bytes.
const SLICE: Duration = Duration::from_millis(200);

pub fn now_http_date() -> String {
    gn_serve::http::http_date(SystemTime::now())
}

pub struct SocketOut {
    stream: TcpStream,
    send_timeout: Duration,
    last_progress: Instant,
    pub bytes: u64,
    /// Set once a write failed: the connection must be closed.
    pub broken: bool,
}

impl SocketOut {
    pub fn new(stream: TcpStream, send_timeout: Duration) -> SocketOut {
        let _ = stream.set_write_timeout(Some(SLICE));
        SocketOut {
            stream,
            send_timeout,
            last_progress: Instant::now(),
            bytes: 0,
            broken: false,
        }
    }
}

impl Write for SocketOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.stream.write(buf) {
                Ok(n) => {
                    self.last_progress = Instant::now();
                    self.bytes += n as u64;
                    return Ok(n);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    pgrx::check_for_interrupts!();
                    if self.last_progress.elapsed() >= self.send_timeout {
                        self.broken = true;
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client took no data for gn_flux.api_send_timeout",
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
