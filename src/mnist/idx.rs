//! The four IDX files of MNIST: what each must hold, and reading one with bounded memory.
//!
//! A file is read only as far as its expected size allows: a plain file's length is
//! checked before it is read, and a gzipped one is decompressed (every gzip member)
//! through a limit of the expected size plus one byte, so a damaged or hostile file costs
//! no more memory than a good one.

use std::io::Read;
use std::path::Path;

/// One of the four IDX files of MNIST.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdxFile {
    /// Its file name, without `.gz`.
    pub name: &'static str,
    /// 2051 for images, 2049 for labels.
    pub magic: u32,
    /// How many images or labels it holds.
    pub count: usize,
    /// The md5 sum of the uncompressed file, as published.
    pub md5: &'static str,
}

/// The magic number of an IDX images file.
pub const IMAGE_MAGIC: u32 = 2051;
/// The magic number of an IDX labels file.
pub const LABEL_MAGIC: u32 = 2049;
/// MNIST's images are 28×28 grey levels.
pub const SIDE: usize = 28;

impl IdxFile {
    /// Whether it holds images (else labels).
    pub fn is_images(&self) -> bool {
        self.magic == IMAGE_MAGIC
    }

    /// The byte length of the uncompressed file.
    pub fn expected_len(&self) -> usize {
        if self.is_images() {
            16 + self.count * SIDE * SIDE
        } else {
            8 + self.count
        }
    }
}

/// The four files, in the order candle-datasets reads them: training images and labels,
/// then test images and labels.
pub const FILES: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        magic: IMAGE_MAGIC,
        count: 60_000,
        md5: "6bbc9ace898e44ae57da46a324031adb",
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        magic: LABEL_MAGIC,
        count: 60_000,
        md5: "a25bea736e30d166cdddb491f175f624",
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        magic: IMAGE_MAGIC,
        count: 10_000,
        md5: "2646ac647ad5339dbf082846283269ea",
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        magic: LABEL_MAGIC,
        count: 10_000,
        md5: "27ae3e4e09519cfbb04c329615203637",
    },
];

/// Checks one file's header, size and (for labels) that every label is a digit.
pub fn check(file: &IdxFile, bytes: &[u8]) -> Result<(), String> {
    let word = |i: usize| -> Option<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0).ok_or("is truncated: shorter than its header")?;
    if magic != file.magic {
        return Err(format!(
            "has magic number {magic}, not {} (not an IDX {} file)",
            file.magic,
            if file.is_images() { "image" } else { "label" }
        ));
    }
    let count = word(1).ok_or("is truncated: shorter than its header")? as usize;
    if count != file.count {
        return Err(format!("holds {count} items, not {}", file.count));
    }
    if file.is_images() {
        let rows = word(2).ok_or("is truncated: shorter than its header")?;
        let cols = word(3).ok_or("is truncated: shorter than its header")?;
        if (rows, cols) != (SIDE as u32, SIDE as u32) {
            return Err(format!("has {rows}x{cols} images, not 28x28"));
        }
    }
    if bytes.len() != file.expected_len() {
        let what = if bytes.len() < file.expected_len() {
            "is truncated"
        } else {
            "is too long"
        };
        return Err(format!(
            "{what}: {} bytes, {} expected",
            bytes.len(),
            file.expected_len()
        ));
    }
    if !file.is_images() {
        if let Some((i, label)) = bytes[8..].iter().enumerate().find(|(_, &l)| l > 9) {
            return Err(format!(
                "has label {label} at index {i}, out of range 0..=9"
            ));
        }
    }
    Ok(())
}

/// The md5 sum of `bytes`, in lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the md5 sum against the published one.
pub fn check_md5(file: &IdxFile, bytes: &[u8]) -> Result<(), String> {
    let sum = md5_hex(bytes);
    if sum == file.md5 {
        Ok(())
    } else {
        Err(format!("has md5 {sum}, not the published {}", file.md5))
    }
}

/// What stands at a path where an MNIST file may be.
#[derive(Debug, PartialEq)]
pub enum Entry {
    /// Nothing.
    Missing,
    /// A regular file (or a symbolic link to one).
    File,
    /// Something that is not a regular file, in words: "a folder", "a FIFO", …
    NotAFile(&'static str),
    /// Its kind cannot be told (a folder on the way cannot be searched, …).
    Unreadable(String),
}

/// Looks at `path` without opening it (opening a FIFO would wait for a writer).
pub fn entry(path: &Path) -> Entry {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(meta) => {
            let kind = meta.file_type();
            if kind.is_file() {
                Entry::File
            } else if kind.is_dir() {
                Entry::NotAFile("a folder")
            } else if kind.is_fifo() {
                Entry::NotAFile("a FIFO")
            } else if kind.is_socket() {
                Entry::NotAFile("a socket")
            } else if kind.is_block_device() || kind.is_char_device() {
                Entry::NotAFile("a device")
            } else {
                Entry::NotAFile("a special file")
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                Entry::NotAFile("a symbolic link to nothing")
            } else {
                Entry::Missing
            }
        }
        Err(e) => Entry::Unreadable(e.to_string()),
    }
}

/// Reads a plain IDX file, refusing one longer than `file` can be before reading it.
pub fn read_plain(file: &IdxFile, path: &Path) -> Result<Vec<u8>, String> {
    let handle = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let meta = handle
        .metadata()
        .map_err(|e| format!("cannot be read ({e})"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let len = meta.len();
    if len > file.expected_len() as u64 {
        return Err(format!(
            "is too long: {len} bytes, {} expected",
            file.expected_len()
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    handle
        .take(file.expected_len() as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({e})"))?;
    Ok(bytes)
}

/// Decompresses a gzipped IDX file (all of its gzip members) up to one byte past the
/// size `file` allows, so that a file that inflates beyond it is refused at that point.
pub fn read_gz(file: &IdxFile, path: &Path) -> Result<Vec<u8>, String> {
    let handle = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let limit = file.expected_len() as u64 + 1;
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(std::io::BufReader::new(handle))
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("is not a valid gzip file ({e})"))?;
    if bytes.len() as u64 == limit {
        return Err(format!(
            "is too long: it inflates past {} bytes",
            file.expected_len()
        ));
    }
    Ok(bytes)
}

/// An images file with `images` (each `SIDE * SIDE` grey levels, concatenated).
pub fn images_file(images: &[u8]) -> Vec<u8> {
    let count = (images.len() / (SIDE * SIDE)) as u32;
    let mut bytes = Vec::with_capacity(16 + images.len());
    for word in [IMAGE_MAGIC, count, SIDE as u32, SIDE as u32] {
        bytes.extend(word.to_be_bytes());
    }
    bytes.extend_from_slice(images);
    bytes
}

/// A labels file with `labels`.
pub fn labels_file(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend(LABEL_MAGIC.to_be_bytes());
    bytes.extend((labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_with_count(count: u32, labels: &[u8]) -> Vec<u8> {
        let mut b = labels_file(labels);
        b[4..8].copy_from_slice(&count.to_be_bytes());
        b
    }

    #[test]
    fn checks_headers_sizes_and_labels() {
        let small = IdxFile {
            name: "labels",
            magic: LABEL_MAGIC,
            count: 3,
            md5: "",
        };
        assert_eq!(check(&small, &labels_file(&[1, 2, 3])), Ok(()));
        assert_eq!(
            check(&small, &labels_with_count(3, &[1, 2])),
            Err("is truncated: 10 bytes, 11 expected".into())
        );
        assert_eq!(
            check(&small, &labels_file(&[1, 2, 3, 4])),
            Err("holds 4 items, not 3".into())
        );
        assert_eq!(
            check(&small, &labels_file(&[1, 12, 3])),
            Err("has label 12 at index 1, out of range 0..=9".into())
        );
        let mut wrong_magic = labels_file(&[1, 2, 3]);
        wrong_magic[3] = 3;
        assert!(check(&small, &wrong_magic)
            .unwrap_err()
            .contains("magic number 2051"));
        assert_eq!(
            check(&small, &[0, 0]),
            Err("is truncated: shorter than its header".into())
        );
    }

    #[test]
    fn md5_of_known_bytes() {
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn images_file_has_the_idx_header() {
        let bytes = images_file(&[7; 2 * SIDE * SIDE]);
        // The format's own bytes: magic 0x00000803 (unsigned byte, 3 dimensions), then
        // 2 images of 28 by 28, big-endian; then the pixels.
        assert_eq!(
            bytes[..16],
            [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]
        );
        assert_eq!(bytes.len(), 16 + 2 * 784);
        assert!(bytes[16..].iter().all(|&b| b == 7));
        let file = IdxFile {
            name: "images",
            magic: IMAGE_MAGIC,
            count: 2,
            md5: "",
        };
        assert_eq!(check(&file, &bytes), Ok(()));
    }

    #[test]
    fn labels_file_has_the_idx_header() {
        // Magic 0x00000801 (unsigned byte, 1 dimension), 3 labels, then the labels.
        assert_eq!(labels_file(&[5, 0, 4]), [0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 4]);
    }
}
