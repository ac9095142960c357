//! The agent's channel: a unix socket that QEMU's virtio-serial port
//! connects to. JSON lines both ways (see `modrig-proto`).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use modrig_proto::{Event, Program};

/// A listening socket, removed from the file system when dropped.
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
}

impl Listener {
    /// Binds `path` (which must be short: unix socket paths are limited to
    /// 108 bytes, so callers use a name under /tmp).
    pub fn bind(path: &Path) -> Result<Listener> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(Listener { listener, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for QEMU to connect, polling `give_up` (e.g. "QEMU exited")
    /// between tries. `Ok(None)`: `give_up` said stop, or the deadline passed.
    pub fn accept(&self, deadline: Instant, give_up: impl Fn() -> bool) -> Result<Option<Channel>> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => return Ok(Some(Channel::new(stream)?)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if give_up() || Instant::now() >= deadline {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e).context("accepting QEMU's channel connection"),
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What one poll of the channel found.
#[derive(Debug)]
pub enum Received {
    Event(Event),
    /// Nothing within the poll interval.
    Nothing,
    /// The guest side closed (QEMU exited or the port was closed).
    Closed,
}

pub struct Channel {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl Channel {
    fn new(stream: UnixStream) -> Result<Channel> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok(Channel { stream, pending: Vec::new() })
    }

    pub fn send(&mut self, program: &Program) -> Result<()> {
        let mut line = serde_json::to_vec(program)?;
        line.push(b'\n');
        self.stream.write_all(&line).context("sending the program to the agent")?;
        Ok(())
    }

    /// Tells the agent there are no more programs: it exits, and the guest
    /// powers off.
    pub fn end_of_programs(&mut self) -> Result<()> {
        self.stream
            .write_all(format!("{}\n", modrig_proto::END_OF_PROGRAMS).as_bytes())
            .context("telling the agent there are no more programs")
    }

    /// Returns the next complete event line, waiting at most one poll
    /// interval. A line that is not an event is an error naming it.
    pub fn poll(&mut self) -> Result<Received> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let event = serde_json::from_str(text)
                    .with_context(|| format!("the agent sent a line that is not an event: {text}"))?;
                return Ok(Received::Event(event));
            }
            let mut buffer = [0u8; 4096];
            match self.stream.read(&mut buffer) {
                Ok(0) => return Ok(Received::Closed),
                Ok(n) => self.pending.extend_from_slice(&buffer[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Received::Nothing)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => bail!("reading the agent's channel: {e}"),
            }
        }
    }
}
