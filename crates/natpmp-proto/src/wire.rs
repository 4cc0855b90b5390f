//! Bounds-checked big-endian reading, shared by the codecs.
//!
//! Every read names the message part it belongs to, so a short datagram turns into a
//! [`DecodeError::TooShort`] that says what was cut off, never into a panic.

use crate::error::DecodeError;

/// A cursor over a received datagram.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// Offset of the next byte to read, from the start of the datagram.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Checks that `n` more bytes are there, so a cut-off part is reported whole: `needed`
    /// is where the part ends, not where the first missing field ends.
    pub(crate) fn require(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() >= n {
            Ok(())
        } else {
            Err(DecodeError::too_short(
                what,
                self.offset.saturating_add(n),
                self.bytes.len(),
            ))
        }
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .offset
            .checked_add(n)
            .ok_or_else(|| DecodeError::too_short(what, usize::MAX, self.bytes.len()))?;
        let slice = self
            .bytes
            .get(self.offset..end)
            .ok_or_else(|| DecodeError::too_short(what, end, self.bytes.len()))?;
        self.offset = end;
        Ok(slice)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }
}
