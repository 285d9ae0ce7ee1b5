//! Avatar validation: decode with limits, scale down, re-encode as PNG.
//!
//! Re-encoding means the server never serves bytes it did not produce, and
//! drops metadata (EXIF location, camera serials) that people rarely know
//! their photos carry.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// Longest side of a stored avatar, in pixels.
pub const AVATAR_SIDE: u32 = 256;
/// Largest accepted image dimension before scaling.
const MAX_SIDE: u32 = 4096;

/// Why an upload is not a usable avatar.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AvatarError {
    /// Content-Type is not image/png, image/jpeg or image/webp.
    #[error("avatar Content-Type must be image/png, image/jpeg or image/webp, not {0:?}")]
    UnsupportedType(String),
    /// The bytes are not an image of the declared type.
    #[error("the body is not a valid {declared} image")]
    Mismatch {
        /// What the Content-Type said.
        declared: &'static str,
    },
    /// Decoding failed or a limit was hit.
    #[error("the image cannot be decoded: {0}")]
    Decode(String),
    /// Too wide or too tall.
    #[error("the image is {width}x{height}; the limit is {MAX_SIDE}x{MAX_SIDE}")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// Validates an upload and returns the PNG to store.
pub fn normalize(content_type: &str, bytes: &[u8]) -> Result<Vec<u8>, AvatarError> {
    let (format, declared) = match content_type.split(';').next().unwrap_or_default().trim() {
        "image/png" => (ImageFormat::Png, "PNG"),
        "image/jpeg" => (ImageFormat::Jpeg, "JPEG"),
        "image/webp" => (ImageFormat::WebP, "WebP"),
        other => {
            let mut shown = other.to_owned();
            shown.truncate(64);
            return Err(AvatarError::UnsupportedType(shown));
        }
    };
    if image::guess_format(bytes).ok() != Some(format) {
        return Err(AvatarError::Mismatch { declared });
    }
    let (width, height) = limited_reader(bytes, format)
        .into_dimensions()
        .map_err(|e| AvatarError::Decode(e.to_string()))?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(AvatarError::TooLarge { width, height });
    }
    let image = limited_reader(bytes, format)
        .decode()
        .map_err(|e| AvatarError::Decode(e.to_string()))?;
    let image = if width > AVATAR_SIDE || height > AVATAR_SIDE {
        image.thumbnail(AVATAR_SIDE, AVATAR_SIDE)
    } else {
        image
    };
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| AvatarError::Decode(e.to_string()))?;
    Ok(png)
}

fn limited_reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(80 * 1024 * 1024);
    reader.limits(limits);
    reader
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 10, 10]));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn large_images_are_scaled_and_reencoded() {
        let stored = normalize("image/png", &png(1000, 500)).unwrap();
        let decoded = image::load_from_memory(&stored).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 128));
    }

    #[test]
    fn wrong_or_broken_input_is_named() {
        assert!(matches!(
            normalize("image/gif", b"GIF89a"),
            Err(AvatarError::UnsupportedType(_))
        ));
        assert!(matches!(
            normalize("image/jpeg", &png(2, 2)),
            Err(AvatarError::Mismatch { declared: "JPEG" })
        ));
        let mut truncated = png(64, 64);
        truncated.truncate(60);
        assert!(matches!(
            normalize("image/png", &truncated),
            Err(AvatarError::Decode(_))
        ));
    }
}
