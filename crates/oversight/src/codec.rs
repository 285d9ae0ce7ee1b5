//! The canonical byte encoding every oversight record uses.
//!
//! Requests, approvals, certificates and ledger entry bodies are hashed and
//! signed, so each value must have exactly one encoding. The rules are few:
//!
//! ```text
//! u8, u16, u32, u64   big-endian, fixed width
//! bool                one byte, 0 or 1 (anything else is an error)
//! [u8; N]             N raw bytes
//! text                u16 length, then that many bytes of UTF-8
//! bytes               u32 length, then the bytes
//! list                u16 count, then the items in the order the type defines
//! enum                u8 discriminant, then the variant's fields
//! option              bool, then the value when true
//! ```
//!
//! Every length is bounded by the caller's limit before anything is
//! allocated, and a decoder must consume its input exactly ([`Reader::finish`]).

/// Why bytes are not a canonical encoding of the record expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a field.
    #[error("input ends inside {field}")]
    Truncated {
        /// The field that was cut short.
        field: &'static str,
    },
    /// A length or count is above the limit for its field.
    #[error("{field} has length {len}, the limit is {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A text field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    Utf8 {
        /// The field.
        field: &'static str,
    },
    /// A record starts with a version this build does not read.
    #[error("{record} has unknown version {version}")]
    UnknownVersion {
        /// The record kind.
        record: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// An enum discriminant or boolean byte has no meaning.
    #[error("{field} has unknown value {value}")]
    UnknownValue {
        /// The field.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A field decoded but its value breaks the type's rules (an invalid id,
    /// country code or public key).
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes follow the record.
    #[error("{count} bytes follow the {record}")]
    TrailingBytes {
        /// The record kind.
        record: &'static str,
        /// How many extra bytes there are.
        count: usize,
    },
    /// The ledger entry's tag is not one this crate writes.
    #[error("entry tag {tag} is not an oversight entry")]
    UnknownTag {
        /// The tag found.
        tag: String,
    },
}

/// Builds a canonical encoding.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer::default()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Writer {
        self.out.push(value);
        self
    }

    pub(crate) fn u16(&mut self, value: u16) -> &mut Writer {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Writer {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn bool(&mut self, value: bool) -> &mut Writer {
        self.u8(u8::from(value))
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) -> &mut Writer {
        self.out.extend_from_slice(bytes);
        self
    }

    /// Text with a u16 length. Every text field is bounded far below 64 KiB
    /// by its constructor; the saturation only keeps this free of a panic
    /// path, and the decoder would reject such an encoding.
    pub(crate) fn text(&mut self, text: &str) -> &mut Writer {
        let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
        self.u16(len).raw(text.as_bytes())
    }

    /// A list count. Lists are bounded by their constructors, as for text.
    pub(crate) fn count(&mut self, count: usize) -> &mut Writer {
        self.u16(u16::try_from(count).unwrap_or(u16::MAX))
    }
}

/// Reads a canonical encoding, naming the field that failed.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { rest: input }
    }

    pub(crate) fn take(
        &mut self,
        len: usize,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::Truncated { field });
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::UnknownValue { field, value }),
        }
    }

    /// Text of at most `max` bytes.
    pub(crate) fn text(&mut self, field: &'static str, max: usize) -> Result<String, DecodeError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(DecodeError::TooLong { field, len, max });
        }
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8 { field })
    }

    /// A list count of at most `max`.
    pub(crate) fn count(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(DecodeError::TooLong { field, len, max });
        }
        Ok(len)
    }

    /// A record's version byte, which must be `expected`.
    pub(crate) fn version(
        &mut self,
        record: &'static str,
        expected: u8,
    ) -> Result<(), DecodeError> {
        let version = self.u8("version")?;
        if version != expected {
            return Err(DecodeError::UnknownVersion { record, version });
        }
        Ok(())
    }

    /// Succeeds only if the whole input was consumed.
    pub(crate) fn finish(self, record: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                record,
                count: self.rest.len(),
            })
        }
    }
}

/// Turns a parse error of a typed field into a [`DecodeError::Invalid`].
pub(crate) fn invalid(field: &'static str) -> impl FnOnce(String) -> DecodeError {
    move |reason| DecodeError::Invalid { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_the_field_and_consumes_exactly() {
        let mut writer = Writer::new();
        writer.u8(1).u16(2).u64(3).bool(true).text("hi");
        let bytes = writer.finish();
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8("a"), Ok(1));
        assert_eq!(reader.u16("b"), Ok(2));
        assert_eq!(reader.u64("c"), Ok(3));
        assert_eq!(reader.bool("d"), Ok(true));
        assert_eq!(reader.text("e", 2), Ok("hi".to_owned()));
        assert_eq!(reader.finish("r"), Ok(()));

        let mut short = Reader::new(&[0, 5, b'a']);
        assert_eq!(
            short.text("name", 10),
            Err(DecodeError::Truncated { field: "name" })
        );
        let mut long = Reader::new(&[0, 5, b'a']);
        assert_eq!(
            long.text("name", 4),
            Err(DecodeError::TooLong {
                field: "name",
                len: 5,
                max: 4
            })
        );
        assert_eq!(
            Reader::new(&[2]).bool("flag"),
            Err(DecodeError::UnknownValue {
                field: "flag",
                value: 2
            })
        );
        assert_eq!(
            Reader::new(&[0, 1, 0xff]).text("t", 9),
            Err(DecodeError::Utf8 { field: "t" })
        );
        let mut trailing = Reader::new(&[1, 2]);
        assert_eq!(trailing.u8("x"), Ok(1));
        assert_eq!(
            trailing.finish("rec"),
            Err(DecodeError::TrailingBytes {
                record: "rec",
                count: 1
            })
        );
    }
}
