//! Where export files may go (`gn_flux.export_directory`), who may write them, and writing them
//! atomically: a hidden temporary file in the target directory, fsync, rename, fsync of the
//! directory. Nothing is left behind after an error.

use crate::error::{GnFluxError, Kind};
use crate::gucs;
use pgrx::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

const SET_DIRECTORY_HINT: &str = "A superuser sets it: ALTER SYSTEM SET gn_flux.export_directory = '/var/lib/postgresql/gn_flux_exports'; SELECT pg_reload_conf(); (the directory must exist and be writable by the server's OS user).";

fn io_error(what: String, e: std::io::Error) -> GnFluxError {
    GnFluxError::new(
        Kind::Io,
        format!("{what}: {e}"),
        "Check that the directory exists, has free space and is writable by the PostgreSQL server's OS user.",
    )
}

/// Superusers and members of pg_write_server_files only (as for COPY … TO a file).
pub fn check_file_privilege(function: &str) -> Result<(), GnFluxError> {
    let allowed = Spi::get_one::<bool>(
        "SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
             OR pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')",
    )?
    .unwrap_or(false);
    if allowed {
        Ok(())
    } else {
        Err(GnFluxError::new(
            Kind::InsufficientPrivilege,
            format!("permission denied: {function} writes files on the database server"),
            "Only superusers and members of pg_write_server_files may write export files: GRANT pg_write_server_files TO <role>; or use gn_flux.export_view(), which returns the file as bytea.",
        ))
    }
}

fn allowed_root() -> Result<PathBuf, GnFluxError> {
    let root = gucs::export_directory().ok_or_else(|| {
        GnFluxError::new(
            Kind::WrongState,
            "gn_flux.export_directory is not set: file exports are disabled",
            SET_DIRECTORY_HINT,
        )
    })?;
    std::fs::canonicalize(&root).map_err(|e| {
        GnFluxError::new(
            Kind::WrongState,
            format!("gn_flux.export_directory \"{root}\" is not usable: {e}"),
            SET_DIRECTORY_HINT,
        )
    })
}

/// Resolves `dir` (absolute, or relative to gn_flux.export_directory), creates it if needed, and
/// checks that it lies inside gn_flux.export_directory once symbolic links are resolved.
pub fn allowed_directory(dir: Option<&str>) -> Result<PathBuf, GnFluxError> {
    let root = allowed_root()?;
    let dir = dir.map(str::trim).filter(|d| !d.is_empty()).ok_or_else(|| {
        GnFluxError::invalid("directory must not be NULL or empty", "Give a directory inside gn_flux.export_directory, e.g. current_setting('gn_flux.export_directory') || '/daily'.")
    })?;
    let requested = Path::new(dir);
    let outside = || {
        GnFluxError::new(
            Kind::InsufficientPrivilege,
            format!(
                "directory \"{dir}\" is outside gn_flux.export_directory ({})",
                root.display()
            ),
            "Write inside the directory named by gn_flux.export_directory; a superuser can change that setting.",
        )
    };
    if requested.components().any(|c| c == Component::ParentDir) {
        return Err(outside());
    }
    let full = if requested.is_absolute() {
        requested.to_path_buf()
    } else {
        root.join(requested)
    };
    if !full.starts_with(&root) && !std::fs::canonicalize(&full).is_ok_and(|c| c.starts_with(&root)) {
        return Err(outside());
    }
    if !full.is_dir() {
        std::fs::create_dir_all(&full)
            .map_err(|e| io_error(format!("could not create directory \"{}\"", full.display()), e))?;
        // The server's umask (0077) would hide it from the web server that publishes the files.
        let _ = std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755));
    }
    let canonical =
        std::fs::canonicalize(&full).map_err(|e| io_error(format!("could not resolve \"{}\"", full.display()), e))?;
    if !canonical.starts_with(&root) {
        return Err(outside());
    }
    Ok(canonical)
}

/// Splits a requested file path into its (checked) directory and file name.
pub fn allowed_file(path: Option<&str>) -> Result<PathBuf, GnFluxError> {
    let path = path.map(str::trim).filter(|p| !p.is_empty()).ok_or_else(|| {
        GnFluxError::invalid("path must not be NULL or empty", "Give a file path inside gn_flux.export_directory, e.g. '/var/lib/postgresql/gn_flux_exports/synthese.gpkg'.")
    })?;
    let p = Path::new(path);
    let name = match p.file_name() {
        Some(n) if !path.ends_with('/') => n.to_owned(),
        _ => {
            return Err(GnFluxError::invalid(
                format!("path \"{path}\" does not name a file"),
                "End the path with a file name, e.g. …/synthese.csv.",
            ))
        }
    };
    let parent = p
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty());
    let dir = allowed_directory(Some(parent.as_deref().unwrap_or(".")))?;
    let target = dir.join(name);
    if target.is_dir() {
        return Err(GnFluxError::invalid(
            format!("\"{}\" is a directory", target.display()),
            "Give a file name.",
        ));
    }
    Ok(target)
}

/// A file being written next to its final path; removed unless committed.
pub struct AtomicFile {
    pub temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicFile {
    pub fn new(target: &Path) -> AtomicFile {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(".{name}.gn_flux-{}.tmp", std::process::id()));
        AtomicFile {
            temp,
            target: target.to_path_buf(),
            committed: false,
        }
    }

    /// fsync, rename over the target, fsync the directory. Returns the file's size.
    pub fn commit(mut self) -> Result<u64, GnFluxError> {
        // Readable by all, like the files of COPY … TO (the server's umask is 0077).
        std::fs::set_permissions(&self.temp, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| io_error("could not set the export file's permissions".into(), e))?;
        let file =
            std::fs::File::open(&self.temp).map_err(|e| io_error("could not reopen the export file".into(), e))?;
        file.sync_all()
            .map_err(|e| io_error("could not fsync the export file".into(), e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(|e| {
            io_error(
                format!("could not rename the export file to \"{}\"", self.target.display()),
                e,
            )
        })?;
        self.committed = true;
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(size)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A private scratch directory (for export_view), removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> Result<ScratchDir, GnFluxError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("gn_flux-export-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| io_error(format!("could not create \"{}\"", dir.display()), e))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
