//! depmod's `modules.dep`, read the same way on both sides: the host checks
//! a scenario's `kernel_modules:` against it, and the agent finds a
//! [`crate::Step::LoadInTree`] module and its dependencies in it.

/// One module of `modules.dep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The module's name as the kernel knows it (`null_blk`): the file name
    /// without `.ko`, dashes as underscores.
    pub name: String,
    /// Relative to `lib/modules/<release>/`, e.g.
    /// `kernel/drivers/block/null_blk/null_blk.ko`.
    pub path: String,
    /// What it needs loaded first, in `modules.dep` order (the last one
    /// first: that is the order `modprobe` loads them in).
    pub dependencies: Vec<String>,
}

/// The module name the kernel uses for a file: `null-blk.ko.xz` and
/// `null_blk.ko` are both `null_blk`.
pub fn module_name(file_or_name: &str) -> String {
    let base = file_or_name.rsplit('/').next().unwrap_or(file_or_name);
    let base = base.split(".ko").next().unwrap_or(base);
    base.replace('-', "_")
}

/// Parses `modules.dep`: one `path: dep dep ...` line per module. Lines
/// without a colon are ignored (depmod writes none).
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let (path, deps) = line.split_once(':')?;
            let path = path.trim();
            (!path.is_empty()).then(|| Entry {
                name: module_name(path),
                path: path.to_string(),
                dependencies: deps.split_whitespace().map(str::to_string).collect(),
            })
        })
        .collect()
}
