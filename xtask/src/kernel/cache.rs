//! Content keys for built kernels.
//!
//! A variant's key hashes everything that decides the bytes of its kernel:
//! the source's content identity, each patch's text and strip level in order,
//! the merged Kconfig request, the toolchain's versions, and the version of
//! modrig's own build recipe. Names, paths and descriptions are left out on
//! purpose: renaming a variant or moving a patch file must not cost a rebuild.
//! (The final `.config` is a function of source + request, so hashing the
//! request is equivalent and lets a cache hit skip the tree entirely.)

use sha2::{Digest, Sha256};

use crate::hashing::hex;

use super::patches::Patch;

/// Bump when the way kernels are built or exported changes, so old cache
/// entries are not mistaken for new ones. 4: Kbuild's O= directory inside
/// the source tree (relative source paths on the compiler's command line),
/// and decode_stacktrace.sh kept with the kernel. 5: the kernel's own
/// modules installed with depmod's modules.dep (`catalog`).
pub const RECIPE_VERSION: u32 = 5;

pub struct KeyInputs<'a> {
    pub source_identity: &'a str,
    /// `(strip level, patch text)` in application order.
    pub patches: Vec<(u32, &'a str)>,
    /// The merged fragment as rendered for Kconfig.
    pub merged_config: &'a str,
    /// e.g. the first lines of `gcc --version` and `ld --version`.
    pub toolchain: &'a str,
}

impl<'a> KeyInputs<'a> {
    /// The key inputs of a variant's loaded patches: their text and strip
    /// level only, not the file they came from.
    pub fn new(source_identity: &'a str, patches: &'a [Patch], merged_config: &'a str, toolchain: &'a str) -> Self {
        KeyInputs {
            source_identity,
            patches: patches.iter().map(|p| (p.strip, p.text.as_str())).collect(),
            merged_config,
            toolchain,
        }
    }
}

/// The variant's cache key: 64 hex digits.
pub fn variant_key(inputs: &KeyInputs<'_>) -> String {
    let mut h = Sha256::new();
    // Length-prefix every field so that no two different inputs can
    // concatenate to the same byte stream.
    let mut field = |tag: &str, bytes: &[u8]| {
        h.update(tag.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field("recipe", &RECIPE_VERSION.to_le_bytes());
    field("source", inputs.source_identity.as_bytes());
    field("patch-count", &(inputs.patches.len() as u64).to_le_bytes());
    for (strip, text) in &inputs.patches {
        field("strip", &strip.to_le_bytes());
        field("patch", text.as_bytes());
    }
    field("config", inputs.merged_config.as_bytes());
    field("toolchain", inputs.toolchain.as_bytes());
    hex(&h.finalize())
}

/// Bump when the way stress modules are built changes (flags, environment).
pub const MODULES_RECIPE_VERSION: u32 = 2;

/// The key of the stress modules built against one kernel: the kernel's key
/// and every file of `guests/modules`, by relative path and content.
pub fn modules_key(kernel_key: &str, files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    h.update(MODULES_RECIPE_VERSION.to_le_bytes());
    h.update(kernel_key.as_bytes());
    for (path, content) in sorted {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(content);
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(source: &str, patches: &[(u32, &str)], config: &str, toolchain: &str) -> String {
        variant_key(&KeyInputs { source_identity: source, patches: patches.to_vec(), merged_config: config, toolchain })
    }

    const BASE: (&str, &str, &str) = ("tarball:sha256:aa", "CONFIG_SMP=y\n", "gcc 12.2.0");

    #[test]
    fn same_inputs_same_key() {
        let (s, c, t) = BASE;
        assert_eq!(key(s, &[(1, "p")], c, t), key(s, &[(1, "p")], c, t));
        assert_eq!(key(s, &[], c, t).len(), 64);
    }

    #[test]
    fn every_input_changes_the_key() {
        let (s, c, t) = BASE;
        let base = key(s, &[(1, "p1"), (1, "p2")], c, t);
        let variations = [
            key("tarball:sha256:bb", &[(1, "p1"), (1, "p2")], c, t),
            key(s, &[(1, "p1"), (1, "p2 changed")], c, t),
            key(s, &[(1, "p2"), (1, "p1")], c, t), // order matters
            key(s, &[(1, "p1")], c, t),
            key(s, &[(0, "p1"), (1, "p2")], c, t), // strip level
            key(s, &[(1, "p1"), (1, "p2")], "CONFIG_SMP=n\n", t),
            key(s, &[(1, "p1"), (1, "p2")], c, "gcc 13.1.0"),
        ];
        for (i, v) in variations.iter().enumerate() {
            assert_ne!(&base, v, "variation {i} did not change the key");
        }
    }

    #[test]
    fn where_a_patch_lives_does_not_change_the_key() {
        let patch = |file: &str| Patch { file: file.into(), subject: Some("s".into()), text: "diff".into(), strip: 1 };
        let here = [patch("/a/0001-x.patch")];
        let moved = [patch("/elsewhere/renamed.patch")];
        let (s, c, t) = BASE;
        assert_eq!(variant_key(&KeyInputs::new(s, &here, c, t)), variant_key(&KeyInputs::new(s, &moved, c, t)));
        let edited = [Patch { text: "diff2".into(), ..patch("/a/0001-x.patch") }];
        assert_ne!(variant_key(&KeyInputs::new(s, &here, c, t)), variant_key(&KeyInputs::new(s, &edited, c, t)));
    }

    #[test]
    fn field_boundaries_cannot_be_confused() {
        let (_, c, t) = BASE;
        assert_ne!(key("ab", &[(1, "c")], c, t), key("a", &[(1, "bc")], c, t));
        assert_ne!(key("s", &[(1, "")], c, t), key("s", &[], c, t));
    }

    #[test]
    fn modules_key_follows_files_not_their_order() {
        let a = vec![("Kbuild".to_string(), b"obj-m += x.o".to_vec()), ("x.c".to_string(), b"int x;".to_vec())];
        let mut reordered = a.clone();
        reordered.reverse();
        assert_eq!(modules_key("k", &a), modules_key("k", &reordered));
        let mut edited = a.clone();
        edited[1].1 = b"int y;".to_vec();
        assert_ne!(modules_key("k", &a), modules_key("k", &edited));
        assert_ne!(modules_key("k", &a), modules_key("k2", &a));
        let mut renamed = a.clone();
        renamed[1].0 = "y.c".to_string();
        assert_ne!(modules_key("k", &a), modules_key("k", &renamed));
    }
}
