//! Thumbnails (API.md Part B §6.3): PocketBase's size syntax and the resize itself, run on
//! a blocking thread by the caller. Decoding is bounded (dimensions and memory) so a
//! small file that claims to be a huge image cannot exhaust the server.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The size PocketBase always allows.
pub const DEFAULT_SIZE: &str = "100x100";
/// Largest source image decoded, in pixels per side, and the decoder's memory bound.
const MAX_SIDE: u32 = 8192;
const MAX_ALLOC: u64 = 256 * 1024 * 1024;

pub use crate::schema::field::{ThumbMode as Mode, ThumbSize as Size};

/// The thumbnail of the image `bytes` (whose name ends in `ext`) at `size`, encoded in
/// the same format.
pub fn make(bytes: &[u8], ext: &str, size: Size) -> Result<Vec<u8>, String> {
    let format = match ext.to_ascii_lowercase().as_str() {
        "png" => ImageFormat::Png,
        "jpg" | "jpeg" => ImageFormat::Jpeg,
        "gif" => ImageFormat::Gif,
        "webp" => ImageFormat::WebP,
        other => return Err(format!("no thumbnails for .{other}")),
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let out = resize(&img, size);
    let out = match format {
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(out.to_rgb8()),
        _ => out,
    };
    let mut buf = Cursor::new(Vec::new());
    out.write_to(&mut buf, format).map_err(|e| e.to_string())?;
    Ok(buf.into_inner())
}

fn resize(img: &DynamicImage, size: Size) -> DynamicImage {
    let (w, h) = (img.width().max(1), img.height().max(1));
    let filter = FilterType::Lanczos3;
    if size.width == 0 || size.height == 0 {
        // One side given: scale to it, keep the aspect ratio.
        let (tw, th) = if size.width == 0 {
            let th = size.height;
            (
                (u64::from(w) * u64::from(th) / u64::from(h)).max(1) as u32,
                th,
            )
        } else {
            let tw = size.width;
            (
                tw,
                (u64::from(h) * u64::from(tw) / u64::from(w)).max(1) as u32,
            )
        };
        return img.resize_exact(tw, th, filter);
    }
    let (tw, th) = (size.width, size.height);
    match size.mode {
        Mode::Fit => img.resize(tw, th, filter),
        Mode::Center => img.resize_to_fill(tw, th, filter),
        Mode::Top | Mode::Bottom => {
            // Scale to cover the box, then cut the excess from one end.
            let scale = f64::max(f64::from(tw) / f64::from(w), f64::from(th) / f64::from(h));
            let sw = ((f64::from(w) * scale).ceil() as u32).max(tw);
            let sh = ((f64::from(h) * scale).ceil() as u32).max(th);
            let scaled = img.resize_exact(sw, sh, filter);
            let x = (sw - tw) / 2;
            let y = if size.mode == Mode::Top { 0 } else { sh - th };
            scaled.crop_imm(x, y, tw, th)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            w,
            h,
            image::Rgba([10, 20, 30, 255]),
        ));
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Png).unwrap();
        buf.into_inner()
    }

    fn dims(bytes: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory(bytes).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn sizes_parse_as_pocketbase_writes_them() {
        let s = |w, h, mode| {
            Some(Size {
                width: w,
                height: h,
                mode,
            })
        };
        assert_eq!(Size::parse("100x100"), s(100, 100, Mode::Center));
        assert_eq!(Size::parse("50x30t"), s(50, 30, Mode::Top));
        assert_eq!(Size::parse("50x30b"), s(50, 30, Mode::Bottom));
        assert_eq!(Size::parse("50x30f"), s(50, 30, Mode::Fit));
        assert_eq!(Size::parse("0x100"), s(0, 100, Mode::Center));
        for bad in [
            "",
            "x",
            "0x0",
            "100",
            "100x",
            "ax1",
            "1x1z",
            "-1x1",
            "99999999x1",
            "1x1tt",
        ] {
            assert_eq!(Size::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_mode_gives_the_size_pocketbase_gives() {
        let src = png(200, 150);
        let at = |s: &str| dims(&make(&src, "png", Size::parse(s).unwrap()).unwrap());
        assert_eq!(at("100x100"), (100, 100));
        assert_eq!(at("0x100"), (133, 100), "as observed on PocketBase");
        assert_eq!(at("100x0"), (100, 75));
        assert_eq!(at("50x50t"), (50, 50));
        assert_eq!(at("50x50b"), (50, 50));
        assert_eq!(at("100x100f"), (100, 75));
        let jpg = make(&src, "jpg", Size::parse("10x10").unwrap()).unwrap();
        assert_eq!(&jpg[..2], &[0xff, 0xd8], "the source format's encoder");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(make(b"not an image", "png", Size::parse("10x10").unwrap()).is_err());
        assert!(make(&png(2, 2), "tiff", Size::parse("10x10").unwrap()).is_err());
    }
}
