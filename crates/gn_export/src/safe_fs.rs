//! Creating export files and directories without following symbolic links planted by others, and
//! the names of scheduled files (which retention may remove, and nothing else).
//!
//! Everything is created exclusively (`O_CREAT|O_EXCL`, `mkdir`) under a random name, with its
//! mode given at creation; modes are changed through an open descriptor (`fchmod`), never by path.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// 128 random bits as hex, from the kernel (`/dev/urandom`); if that cannot be read, from the
/// standard library's randomly keyed hasher mixed with the time and the process id.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let from_kernel = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_kernel.is_err() {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a new file for writing: fails if anything (a file, a symbolic link, even a dangling
/// one) already has that name; `mode` is applied at creation (less the process umask).
pub fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(mode)
        .open(path)
}

/// Opens an existing file for reading, refusing a symbolic link in its last component.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Opens an existing directory (for `fchmod`, `fsync`), refusing a symbolic link.
pub fn open_dir_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
}

/// Creates a new private directory (mode 0700) `.<prefix>-<random>.tmp` inside `parent`; `mkdir`
/// never follows a link and fails if the name exists, so nobody else can have prepared it.
pub fn create_private_dir(parent: &Path, prefix: &str) -> io::Result<PathBuf> {
    let mut last = None;
    for _ in 0..8 {
        let dir = parent.join(format!(".{prefix}-{}.tmp", random_token()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("could not create a private directory")))
}

/// The name of a scheduled file: `<stem>_<YYYY_MM_DD_HHhMMmSS>.<ext>` (GeoNature's rule).
pub fn scheduled_file_name(stem: &str, stamp: &str, ext: &str) -> String {
    format!("{stem}_{stamp}.{ext}")
}

/// Whether `name` is exactly a name [`scheduled_file_name`] gives for this stem and extension,
/// with a well-formed stamp `YYYY_MM_DD_HHhMMmSS`.
pub fn is_scheduled_file_name(name: &str, stem: &str, ext: &str) -> bool {
    let Some(rest) = name.strip_prefix(stem).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    let Some(stamp) = rest.strip_suffix(ext).and_then(|r| r.strip_suffix('.')) else {
        return false;
    };
    const SHAPE: &[u8] = b"dddd_dd_dd_ddhddmdd";
    stamp.len() == SHAPE.len()
        && stamp.bytes().zip(SHAPE).all(|(c, &s)| match s {
            b'd' => c.is_ascii_digit(),
            other => c == other,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn exclusive_creation_never_opens_an_existing_name_or_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        // A file already there.
        let taken = dir.path().join("taken");
        std::fs::write(&taken, "old").unwrap();
        let err = create_exclusive(&taken, 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&taken).unwrap(), "old");
        // A symbolic link to an existing file, and a dangling one: neither is followed.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_exclusive(&link, 0o600).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let dangling = dir.path().join("dangling");
        let nowhere = dir.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        assert!(create_exclusive(&dangling, 0o600).is_err());
        assert!(!nowhere.exists());
        assert!(open_nofollow(&link).is_err());
        assert!(open_dir_nofollow(&link).is_err());
    }

    #[test]
    fn the_mode_is_given_at_creation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("private");
        let f = create_exclusive(&p, 0o600).unwrap();
        assert_eq!(f.metadata().unwrap().mode() & 0o077, 0, "no access for group or others");
        // Widening happens through the descriptor (fchmod).
        f.set_permissions(std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
    }

    #[test]
    fn private_directories_are_new_random_and_0700() {
        let dir = tempfile::tempdir().unwrap();
        let a = create_private_dir(dir.path(), "gn_flux").unwrap();
        let b = create_private_dir(dir.path(), "gn_flux").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::metadata(&a).unwrap().mode() & 0o777, 0o700);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".gn_flux-") && name.ends_with(".tmp") && name.len() > 40,
            "{name}"
        );
    }

    #[test]
    fn scheduled_names_are_matched_exactly() {
        let name = scheduled_file_name("Synthese_SINP", "2024_05_01_03h00m00", "csv");
        assert_eq!(name, "Synthese_SINP_2024_05_01_03h00m00.csv");
        assert!(is_scheduled_file_name(&name, "Synthese_SINP", "csv"));
        for other in [
            "Synthese_SINP.csv",
            "Synthese_SINP_2024_05_01_03h00m00.csv.bak",
            "Synthese_SINP_2024_05_01_03h00m00.gpkg",
            "Synthese_SINP_2024_05_01_03h00m0x.csv",
            "Synthese_SINP_2024_05_01_03h00m00_.csv",
            "Synthese_2024_05_01_03h00m00.csv",
            "../Synthese_SINP_2024_05_01_03h00m00.csv",
            "Synthese_SINP_2024_05_01_03h00m000.csv",
            "passwd",
        ] {
            assert!(!is_scheduled_file_name(other, "Synthese_SINP", "csv"), "{other}");
        }
    }
}
