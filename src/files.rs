//! Writing a file whole or not at all: through a uniquely named temporary file in the
//! destination folder, renamed into place when complete and removed on any failure, so
//! that concurrent writers never collide and no half-written file is left under its
//! final name.

use anyhow::{anyhow, Context, Result};
use std::path::Path;

/// Writes `dir/name` with `write`, which is handed the temporary file's path (its name
/// ends in `.partial` and `name`'s extension, for writers that go by it); `what_to_do`
/// ends each error message (how the user can help).
pub fn write_with(
    dir: &Path,
    name: &str,
    what_to_do: &str,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let final_path = dir.join(name);
    let extension = Path::new(name)
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(&format!(".partial{extension}"))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write into {}{what_to_do}", dir.display()))?;
    write(partial.path()).with_context(|| format!("cannot write {}", final_path.display()))?;
    partial
        .as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}{what_to_do}", final_path.display()))?;
    partial.persist(&final_path).map_err(|e| {
        anyhow!(
            "cannot write {}: {}{what_to_do}",
            final_path.display(),
            e.error
        )
    })?;
    Ok(())
}

/// Writes `bytes` to `dir/name`; see the module doc.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_with(dir, name, "", |path| Ok(std::fs::write(path, bytes)?))
}

/// Writes `bytes` to `path` (a file in an existing folder, `.` when it names none);
/// `what` names where the path came from in the error when it names no file.
pub fn write_at(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{what} must name a file"))?;
    write_file(dir, name, bytes)
}
