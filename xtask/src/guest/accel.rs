//! Choosing KVM or TCG: `auto` proves KVM by booting, because on some hosts
//! `/dev/kvm` exists and guests still hang right after the firmware.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::qemu::Accel;
use crate::fsutil::write_atomic;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM if a probe guest boots with it, else TCG
    Auto,
    Kvm,
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<AccelChoice, String> {
        match text {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(format!("`{other}`: expected auto, kvm or tcg")),
        }
    }
}

pub use crate::record::AccelDecision;

/// How long a KVM guest may take to reach the agent before KVM is declared
/// unusable: with working KVM it takes well under a second.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
struct ProbeRecord {
    host: String,
    decision: AccelDecision,
}

/// Resolves `choice`. For `auto`, a cached probe verdict for this host (its
/// kernel release and QEMU version) is reused; otherwise `probe_kvm` boots a
/// guest with KVM and says whether it reached the agent in time.
pub fn resolve(
    choice: AccelChoice,
    cache: &Path,
    host_identity: &str,
    probe_kvm: impl FnOnce() -> Result<bool>,
) -> Result<AccelDecision> {
    let decision = |accel, how: &str| AccelDecision { accel, how: how.to_string() };
    match choice {
        AccelChoice::Kvm => return Ok(decision(Accel::Kvm, "kvm (asked for)")),
        AccelChoice::Tcg => return Ok(decision(Accel::Tcg, "tcg (asked for)")),
        AccelChoice::Auto => {}
    }
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return Ok(decision(Accel::Tcg, "auto: no usable /dev/kvm; using TCG"));
    }
    let record_path = cache.join("accel-probe.json");
    if let Some(record) = std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<ProbeRecord>(&b).ok())
        .filter(|r| r.host == host_identity)
    {
        return Ok(record.decision);
    }
    let decision = if probe_kvm()? {
        decision(Accel::Kvm, "auto: a KVM probe guest booted; using KVM")
    } else {
        eprintln!(
            "modrig: /dev/kvm exists but a KVM guest did not reach userspace within {} s; using TCG (cached in {})",
            PROBE_DEADLINE.as_secs(),
            record_path.display()
        );
        decision(Accel::Tcg, "auto: KVM probe guest hung at boot; using TCG")
    };
    let record = ProbeRecord { host: host_identity.to_string(), decision: decision.clone() };
    write_atomic(&record_path, &serde_json::to_vec_pretty(&record)?)?;
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_never_probe() {
        let dir = std::env::temp_dir();
        let never = || -> Result<bool> { panic!("probed") };
        assert_eq!(resolve(AccelChoice::Tcg, &dir, "h", never).unwrap().accel, Accel::Tcg);
        assert_eq!(
            resolve(AccelChoice::Kvm, &dir, "h", || -> Result<bool> { panic!("probed") }).unwrap().accel,
            Accel::Kvm
        );
    }

    #[test]
    fn auto_probes_once_per_host_and_caches() {
        if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
            // Without /dev/kvm, auto never probes: that is the other branch.
            let d = resolve(AccelChoice::Auto, &std::env::temp_dir(), "h", || -> Result<bool> { panic!("probed") });
            assert_eq!(d.unwrap().accel, Accel::Tcg);
            return;
        }
        let dir = std::env::temp_dir().join(format!("modrig-accel-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = resolve(AccelChoice::Auto, &dir, "host-a", || Ok(false)).unwrap();
        assert_eq!(first.accel, Accel::Tcg);
        let cached = resolve(AccelChoice::Auto, &dir, "host-a", || -> Result<bool> { panic!("probed twice") }).unwrap();
        assert_eq!(cached, first);
        let other_host = resolve(AccelChoice::Auto, &dir, "host-b", || Ok(true)).unwrap();
        assert_eq!(other_host.accel, Accel::Kvm);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
