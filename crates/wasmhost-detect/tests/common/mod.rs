//! Helpers shared by the detector's integration tests: LEB128, custom
//! sections, and stripping a binary of every custom section.

#![allow(dead_code)] // each test target uses its own part

/// Appends `n` as unsigned LEB128.
pub fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    let (mut value, mut shift) = (0usize, 0);
    loop {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
        shift += 7;
    }
}

/// A custom section with this name and payload.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut section = vec![0u8];
    leb128(body.len(), &mut section);
    section.extend(body);
    section
}

/// The binary without custom sections, also inside a component's nested
/// core modules and components (what `wasm-strip` does to a module).
pub fn strip(bytes: &[u8]) -> Vec<u8> {
    let component = bytes.get(4..8) != Some(b"\x01\0\0\0");
    let mut out = bytes[..8].to_vec();
    let mut pos = 8;
    while pos < bytes.len() {
        let id = bytes[pos];
        pos += 1;
        let size = read_leb128(bytes, &mut pos).expect("a section size");
        let body = &bytes[pos..pos + size];
        pos += size;
        let body = match id {
            0 => continue,
            // A component's core module (1) and component (4) sections hold whole binaries.
            1 | 4 if component => strip(body),
            _ => body.to_vec(),
        };
        out.push(id);
        leb128(body.len(), &mut out);
        out.extend(body);
    }
    out
}
