//! Where export files may go (`gn_flux.export_directory`), who may write them, and writing them
//! atomically: a file created exclusively in a private temporary directory next to the target
//! (random name, mode 0700), fsync, rename, fsync of the directory. Nothing is left behind after
//! an error, and no name another user could prepare (a symbolic link) is ever opened.

use crate::error::{GnFluxError, Kind};
use crate::gucs;
use pgrx::prelude::*;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
        "SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false)
             OR pg_catalog.pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')",
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

/// The mode of an export file: public exports are readable by all (the web server that publishes
/// them), private ones by the server's OS user only.
pub fn file_mode(public: bool) -> u32 {
    if public {
        0o644
    } else {
        0o600
    }
}

/// Resolves `dir` (absolute, or relative to gn_flux.export_directory) and checks that it lies
/// inside gn_flux.export_directory once symbolic links are resolved, creating what is missing one
/// level at a time: the deepest existing ancestor is resolved and checked before anything is
/// created, and each new level is resolved and checked again (a link planted meanwhile is caught).
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
    let full: PathBuf = if requested.is_absolute() {
        requested.components().collect()
    } else {
        root.join(requested).components().collect()
    };
    // The deepest existing ancestor, resolved; the names below it are to be created.
    let mut missing: Vec<std::ffi::OsString> = Vec::new();
    let mut probe = full.clone();
    let mut current = loop {
        match std::fs::canonicalize(&probe) {
            Ok(resolved) => break resolved,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match (probe.file_name(), probe.parent()) {
                (Some(name), Some(parent)) => {
                    missing.push(name.to_owned());
                    probe = parent.to_path_buf();
                }
                _ => return Err(io_error(format!("could not resolve \"{}\"", full.display()), e)),
            },
            Err(e) => return Err(io_error(format!("could not resolve \"{}\"", probe.display()), e)),
        }
    };
    if !current.starts_with(&root) {
        return Err(outside());
    }
    for name in missing.into_iter().rev() {
        let next = current.join(&name);
        match std::fs::DirBuilder::new().mode(0o755).create(&next) {
            Ok(()) => {
                // The server's umask (0077) would hide it from the web server that publishes
                // public files; widened through a descriptor, never by path.
                if let Ok(d) = gn_export::safe_fs::open_dir_nofollow(&next) {
                    let _ = d.set_permissions(std::fs::Permissions::from_mode(0o755));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(io_error(
                    format!("could not create directory \"{}\"", next.display()),
                    e,
                ))
            }
        }
        current = std::fs::canonicalize(&next)
            .map_err(|e| io_error(format!("could not resolve \"{}\"", next.display()), e))?;
        if !current.starts_with(&root) {
            return Err(outside());
        }
    }
    if !current.is_dir() {
        return Err(GnFluxError::invalid(
            format!("\"{}\" is not a directory", current.display()),
            "Give a directory inside gn_flux.export_directory.",
        ));
    }
    Ok(current)
}

/// Splits a requested file path into its (checked) directory and file name.
pub fn allowed_file(path: Option<&str>) -> Result<PathBuf, GnFluxError> {
    let path = path.map(str::trim).filter(|p| !p.is_empty()).ok_or_else(|| {
        GnFluxError::invalid("path must not be NULL or empty", "Give a file path inside gn_flux.export_directory, e.g. '/var/lib/postgresql/gn_flux_exports/synthese.gpkg'.")
    })?;
    let p = Path::new(path);
    let name = match p.file_name() {
        Some(n) if !path.ends_with('/') && !path.ends_with("/.") => n.to_owned(),
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

/// A file being written in a private directory (`.gn_flux-<random>.tmp`, mode 0700, created
/// exclusively) next to its final path, then renamed over it; removed unless committed. The writers
/// may create side files (journals, shapefile parts, xlsx scratch) next to `temp`: they all stay
/// in the private directory, where nobody else can plant anything.
pub struct AtomicFile {
    dir: PathBuf,
    pub temp: PathBuf,
    target: PathBuf,
    mode: u32,
    committed: bool,
}

impl AtomicFile {
    /// Prepares `target` to be written with `mode` (see [`file_mode`]).
    pub fn create(target: &Path, mode: u32) -> Result<AtomicFile, GnFluxError> {
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(GnFluxError::invalid(
                format!("\"{}\" does not name a file", target.display()),
                "End the path with a file name, e.g. …/synthese.csv.",
            ));
        };
        let dir = gn_export::safe_fs::create_private_dir(parent, "gn_flux").map_err(|e| {
            io_error(
                format!("could not create a temporary directory in \"{}\"", parent.display()),
                e,
            )
        })?;
        let file = AtomicFile {
            temp: dir.join(name),
            dir,
            target: target.to_path_buf(),
            mode,
            committed: false,
        };
        gn_export::safe_fs::create_exclusive(&file.temp, mode)
            .map_err(|e| io_error("could not create the temporary export file".into(), e))?;
        Ok(file)
    }

    /// Sets the mode (through the descriptor), fsync, rename over the target (a link there is
    /// replaced, not followed), fsync the directory. Returns the file's size.
    pub fn commit(mut self) -> Result<u64, GnFluxError> {
        let file = gn_export::safe_fs::open_nofollow(&self.temp)
            .map_err(|e| io_error("could not reopen the export file".into(), e))?;
        // The creation mode was reduced by the server's umask (0077).
        file.set_permissions(std::fs::Permissions::from_mode(self.mode))
            .map_err(|e| io_error("could not set the export file's permissions".into(), e))?;
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
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = gn_export::safe_fs::open_dir_nofollow(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(size)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // remove_dir_all does not follow links inside the directory.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private scratch directory (for export_view): new, random, mode 0700; removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> Result<ScratchDir, GnFluxError> {
        let tmp = std::env::temp_dir();
        let dir = gn_export::safe_fs::create_private_dir(&tmp, "gn_flux-export").map_err(|e| {
            io_error(
                format!("could not create a private directory in \"{}\"", tmp.display()),
                e,
            )
        })?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
