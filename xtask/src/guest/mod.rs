//! Guests: the image that boots, QEMU under rexpect, the agent's channel,
//! the host's load while they run. (What a run's end means is `verdict`.)

pub mod accel;
pub mod channel;
pub mod console;
pub mod hostload;
pub mod image;
pub mod initramfs;
pub mod qemu;
pub mod reaper;
pub mod runner;
