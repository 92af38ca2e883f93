//! The two primitives TensorBoard event files are built on, hand-written to avoid a protobuf toolchain:
//! CRC-32C (Castagnoli, with TFRecord's mask) and a protobuf wire-format field reader.
//!
//! Input: bytes. Output: a checksum, or `(field number, value)` pairs in wire order. The reader knows no
//! schema; `tfevents.rs` gives the field numbers meaning.

/// CRC-32C lookup table (reflected polynomial 0x82F63B78), built at compile time.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32C of `bytes`.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC32C_TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The masked CRC-32C that TFRecord stores (`rotate right 15, add 0xa282ead8`).
pub(crate) fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One field's value in wire form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

/// Reads `(field number, value)` pairs from a serialized message. Errors are short phrases with the byte
/// position inside the message; the caller adds where the message sits in the file.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Fields<'a> {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!("varint runs past the end of the message at byte {}", self.pos));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!("field of {n} bytes runs past the end of the message at byte {}", self.pos));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let number =
                u32::try_from(key >> 3).map_err(|_| format!("field number {} too large", key >> 3))?;
            let value = match key & 7 {
                0 => Wire::Varint(self.varint()?),
                1 => Wire::Fixed64(self.take(8)?.try_into().expect("8 bytes")),
                2 => {
                    let n = self.varint()?;
                    Wire::Bytes(self.take(usize::try_from(n).map_err(|_| "length too large".to_string())?)?)
                }
                5 => Wire::Fixed32(self.take(4)?.try_into().expect("4 bytes")),
                t => return Err(format!("unsupported wire type {t} for field {number}")),
            };
            Ok((number, value))
        })();
        if field.is_err() {
            self.pos = self.buf.len();
        }
        Some(field)
    }
}

/// The numbers of a repeated numeric field, packed (`Bytes`) or not: `width` is 4 (fixed32), 8 (fixed64) or
/// 0 (varint). Returns raw 64-bit patterns; the caller knows the element type.
pub(crate) fn repeated(value: Wire<'_>, width: usize) -> Result<Vec<u64>, String> {
    match (value, width) {
        (Wire::Varint(v), 0) => Ok(vec![v]),
        (Wire::Fixed32(b), 4) => Ok(vec![u64::from(u32::from_le_bytes(b))]),
        (Wire::Fixed64(b), 8) => Ok(vec![u64::from_le_bytes(b)]),
        (Wire::Bytes(packed), 0) => {
            let mut fields = Fields::new(packed);
            let mut out = Vec::new();
            while fields.pos < packed.len() {
                out.push(fields.varint()?);
            }
            Ok(out)
        }
        (Wire::Bytes(packed), 4 | 8) if packed.len() % width == 0 => Ok(packed
            .chunks(width)
            .map(|c| {
                if width == 4 {
                    u64::from(u32::from_le_bytes(c.try_into().unwrap()))
                } else {
                    u64::from_le_bytes(c.try_into().unwrap())
                }
            })
            .collect()),
        (other, _) => Err(format!("unexpected encoding {other:?} for a repeated number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vectors() {
        // RFC 3720 (iSCSI) B.4 and the common check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b""), 0);
        // The TFRecord mask of a known CRC.
        assert_eq!(masked_crc32c(b"123456789"), 0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8));
    }

    #[test]
    fn reads_each_wire_type() {
        // field 1 varint 300, field 2 fixed64, field 3 bytes "hi", field 4 fixed32 1.5f32.
        let mut msg = vec![0x08, 0xac, 0x02, 0x11];
        msg.extend_from_slice(&7u64.to_le_bytes());
        msg.extend_from_slice(&[0x1a, 2, b'h', b'i', 0x25]);
        msg.extend_from_slice(&1.5f32.to_le_bytes());
        let got: Vec<_> = Fields::new(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            [
                (1, Wire::Varint(300)),
                (2, Wire::Fixed64(7u64.to_le_bytes())),
                (3, Wire::Bytes(b"hi")),
                (4, Wire::Fixed32(1.5f32.to_le_bytes()))
            ]
        );
        let err = Fields::new(&[0x1a, 5, b'h']).next().unwrap().unwrap_err();
        assert!(err.contains("runs past the end"), "{err}");
        let err = Fields::new(&[0x0b]).next().unwrap().unwrap_err();
        assert_eq!(err, "unsupported wire type 3 for field 1");
    }

    #[test]
    fn packed_and_unpacked_repeated() {
        assert_eq!(repeated(Wire::Bytes(&[1, 0xac, 0x02]), 0).unwrap(), [1, 300]);
        let packed: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|f| f.to_le_bytes()).collect();
        let bits = repeated(Wire::Bytes(&packed), 4).unwrap();
        assert_eq!(bits.iter().map(|&b| f32::from_bits(b as u32)).collect::<Vec<_>>(), [1.0, 2.0]);
        assert_eq!(repeated(Wire::Fixed64(2.5f64.to_le_bytes()), 8).unwrap(), [2.5f64.to_bits()]);
        assert!(repeated(Wire::Bytes(&[1, 2, 3]), 4).is_err());
    }
}
