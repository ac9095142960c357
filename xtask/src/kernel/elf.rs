//! The section headers of a 64-bit little-endian ELF file (a module's
//! `.ko`): their names, flags and sizes, which is all the decoder needs to
//! tell a module's code sections apart. Pure: bytes in, sections out.

use anyhow::{bail, Context, Result};

/// `SHF_EXECINSTR`: the section holds machine code.
const EXECUTABLE: u64 = 0x4;

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub flags: u64,
    pub size: u64,
}

impl Section {
    /// Whether the section holds code that a stack frame can point into.
    pub fn is_code(&self) -> bool {
        self.flags & EXECUTABLE != 0 && self.size > 0
    }
}

/// The section headers of an ELF64 little-endian file, in file order.
pub fn sections(bytes: &[u8]) -> Result<Vec<Section>> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        bail!("not an ELF file");
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        bail!("not a 64-bit little-endian ELF file (class {}, data {})", bytes[4], bytes[5]);
    }
    let table = read_u64(bytes, 0x28)? as usize;
    let entry_size = read_u16(bytes, 0x3a)? as usize;
    let count = read_u16(bytes, 0x3c)? as usize;
    let names_index = read_u16(bytes, 0x3e)? as usize;
    if entry_size < 64 {
        bail!("section header entries of {entry_size} bytes, expected 64");
    }
    let header = |index: usize| -> Result<(u32, u64, u64, u64)> {
        let at = table
            .checked_add(index.checked_mul(entry_size).context("section table overflows")?)
            .context("section table overflows")?;
        Ok((read_u32(bytes, at)?, read_u64(bytes, at + 8)?, read_u64(bytes, at + 24)?, read_u64(bytes, at + 32)?))
    };
    // The whole table must be in the file, not only the fields read.
    field(bytes, table, count.checked_mul(entry_size).context("section table overflows")?)?;
    if count > 0 && names_index >= count {
        bail!("section name table index {names_index} is not among the {count} sections");
    }
    let names_offset = if count > 0 { header(names_index)?.2 as usize } else { 0 };
    (0..count)
        .map(|index| {
            let (name, flags, _, size) = header(index)?;
            Ok(Section { name: read_name(bytes, names_offset + name as usize)?, flags, size })
        })
        .collect()
}

fn field(bytes: &[u8], at: usize, len: usize) -> Result<&[u8]> {
    bytes
        .get(at..at.checked_add(len).context("offset overflows")?)
        .with_context(|| format!("truncated ELF file: {len} bytes at offset {at:#x}, but the file has {}", bytes.len()))
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(field(bytes, at, 2)?.try_into()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(field(bytes, at, 4)?.try_into()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(field(bytes, at, 8)?.try_into()?))
}

fn read_name(bytes: &[u8], at: usize) -> Result<String> {
    let rest = bytes.get(at..).with_context(|| format!("section name at {at:#x} is past the end of the file"))?;
    let end = rest.iter().position(|&b| b == 0).context("section name without its terminating NUL")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 LE file: the null section, `.text` and `.init.text`
    /// (both code), `.data`, and the section name table.
    fn tiny_elf() -> Vec<u8> {
        let names = b"\0.text\0.init.text\0.data\0.shstrtab\0";
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        let names_at = bytes.len() as u64;
        bytes.extend_from_slice(names);
        while !bytes.len().is_multiple_of(8) {
            bytes.push(0);
        }
        let table = bytes.len() as u64;
        bytes[0x28..0x30].copy_from_slice(&table.to_le_bytes());
        bytes[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        bytes[0x3c..0x3e].copy_from_slice(&5u16.to_le_bytes());
        bytes[0x3e..0x40].copy_from_slice(&4u16.to_le_bytes());
        // (name offset, flags, offset, size)
        let headers: [(u32, u64, u64, u64); 5] = [
            (0, 0, 0, 0),
            (1, 0x6, 0, 0x40),
            (7, 0x6, 0, 0x20),
            (18, 0x3, 0, 8),
            (24, 0, names_at, names.len() as u64),
        ];
        for (name, flags, offset, size) in headers {
            let mut entry = [0u8; 64];
            entry[..4].copy_from_slice(&name.to_le_bytes());
            entry[8..16].copy_from_slice(&flags.to_le_bytes());
            entry[24..32].copy_from_slice(&offset.to_le_bytes());
            entry[32..40].copy_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&entry);
        }
        bytes
    }

    #[test]
    fn section_names_flags_and_sizes_are_read() {
        let sections = sections(&tiny_elf()).unwrap();
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["", ".text", ".init.text", ".data", ".shstrtab"]);
        let code: Vec<&str> = sections.iter().filter(|s| s.is_code()).map(|s| s.name.as_str()).collect();
        assert_eq!(code, [".text", ".init.text"]);
        assert_eq!(sections[2].size, 0x20);
    }

    #[test]
    fn what_is_not_an_elf64_file_is_an_error_not_a_panic() {
        assert!(sections(b"#!/bin/sh\n").unwrap_err().to_string().contains("not an ELF file"));
        let mut elf32 = tiny_elf();
        elf32[4] = 1;
        assert!(sections(&elf32).unwrap_err().to_string().contains("64-bit little-endian"));
        let whole = tiny_elf();
        let truncated = &whole[..whole.len() - 10];
        assert!(sections(truncated).unwrap_err().to_string().contains("truncated ELF file"));
    }
}
