//! Writing a file whole or not at all: through a uniquely named temporary file in the
//! destination folder, renamed into place when complete and removed on any failure, so
//! that concurrent writers never collide and no half-written file is left under its
//! final name.

use anyhow::{anyhow, Context, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `dir/name`; see the module doc.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let final_path = dir.join(name);
    let mut partial = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write {}", final_path.display()))?;
    partial
        .write_all(bytes)
        .and_then(|()| partial.as_file().sync_all())
        .with_context(|| format!("cannot write {}", final_path.display()))?;
    partial
        .persist(&final_path)
        .map_err(|e| anyhow!("cannot write {}: {}", final_path.display(), e.error))?;
    Ok(())
}
