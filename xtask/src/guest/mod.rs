//! Guests: the image that boots, QEMU under rexpect, the agent's channel,
//! and the verdict on what the kernel did.

pub mod accel;
pub mod channel;
pub mod console;
pub mod hostload;
pub mod image;
pub mod initramfs;
pub mod qemu;
pub mod reaper;
pub mod runner;
pub mod verdict;
