//! The QR code of an `otpauth://` URI, as a PNG image an authenticator app can scan.
//!
//! IAM returns its own QR code, but the sandbox (moto) returns random bytes there, and a
//! URI we build is one we can test; so the image is drawn here from the URI: the module
//! matrix from `qrcode`, encoded by `png` as 8-bit greyscale.

use qrcode::{Color, EcLevel, QrCode};

use crate::error::Error;

/// Pixels per QR module.
const SCALE: usize = 6;
/// The light border around the code, in modules, that scanners need (the spec says 4).
const QUIET_ZONE: usize = 4;

/// Renders `text` as a QR code PNG.
pub fn png(text: &str) -> Result<Vec<u8>, Error> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| Error::internal(format!("cannot make a QR code: {e}")))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules, i / modules);
        for dy in 0..SCALE {
            let row = (my + QUIET_ZONE) * SCALE + dy;
            let start = row * side + (mx + QUIET_ZONE) * SCALE;
            pixels[start..start + SCALE].fill(0);
        }
    }
    let side32 = u32::try_from(side).map_err(|e| Error::internal(e.to_string()))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let encode_error =
        |e: png::EncodingError| Error::internal(format!("cannot encode the QR code PNG: {e}"));
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(&pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_png_decodes_to_a_square_with_the_quiet_zone_light() {
        let bytes = png("otpauth://totp/Amazon%20Web%20Services:admin%40123456789012?secret=ABC&issuer=Amazon%20Web%20Services").unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.width, info.height);
        let side = info.width as usize;
        // The corner is quiet zone (light); the finder pattern just inside it is dark.
        assert_eq!(buf[0], 255);
        let inside = QUIET_ZONE * SCALE;
        assert_eq!(buf[inside * side + inside], 0);
        assert!(side >= (21 + 2 * QUIET_ZONE) * SCALE);
    }
}
