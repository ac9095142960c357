//! modrig-agent: runs inside the guest's initramfs, talks to the host over
//! the virtio-serial port `modrig_proto::PORT_NAME`, and runs the programs
//! the host sends, one after another (see `modrig_proto` for the protocol).
//!
//! Exit status: 0 once the host has no more programs; 2 when the port or the host never showed
//! up; 1 when the conversation broke off. Anything the host cannot be told
//! goes to stderr, which init leaves on the serial console.

mod port;
mod session;
mod steps;
mod sys;

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use modrig_proto::{EventKind, PORT_NAME};

fn main() -> ExitCode {
    let port = match port::open_port(Path::new(port::SYSFS_PORTS), Path::new("/dev"), PORT_NAME, port::PORT_TIMEOUT)
        .and_then(|port| port::wait_for_host(&port, port::HOST_TIMEOUT).map(|()| port))
    {
        Ok(port) => port,
        Err(message) => {
            eprintln!("modrig-agent: {message}");
            return ExitCode::from(2);
        }
    };
    let ready = match ready() {
        Ok(ready) => ready,
        Err(message) => {
            eprintln!("modrig-agent: {message}");
            return ExitCode::from(1);
        }
    };
    let input = match port.try_clone() {
        Ok(input) => BufReader::new(input),
        Err(error) => {
            eprintln!("modrig-agent: cannot duplicate the port's descriptor: {error}");
            return ExitCode::from(1);
        }
    };
    match session::serve(input, &port, ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("modrig-agent: {error}");
            ExitCode::from(1)
        }
    }
}

fn ready() -> Result<EventKind, String> {
    let kernel_release = sys::kernel_release().map_err(|error| format!("uname failed: {error}"))?;
    let cpus = sys::online_cpus().map_err(|error| format!("cannot count online CPUs: {error}"))?;
    Ok(EventKind::Ready { kernel_release, cpus })
}
